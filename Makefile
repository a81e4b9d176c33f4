# Entry points; the real build is meson (see README.md).
#   make demo    install missing packages, build, run the end-to-end demo on loopback
#   make check   install missing packages, build twice (normal, ASan+UBSan), run every test,
#                then boot the Debian guests of tests/vm (VM=no leaves them out)
#   make bench   benchmarks against the reference, results in bench/results/
#   make check-vm  only the VM boot tests: Debian guests under QEMU whose LUKS root Cotter unlocks
#   make check-deploy  only the deployment tests: the Ansible/OSISM plays against QEMU hosts
BUILD ?= build
ASAN_BUILD ?= build-asan
VM ?= yes
VM_RESULTS ?= $(BUILD)/vmtest.txt
DEPLOY_RESULTS ?= $(BUILD)/deploytest.txt
MESON_TEST_FLAGS ?= --print-errorlogs --timeout-multiplier 2
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

.PHONY: all deps deps-vm deps-deploy build build-asan check check-vm check-deploy demo bench clean

all: build

deps:
	sh scripts/install-deps.sh

deps-vm:
	sh scripts/install-deps.sh vm

deps-deploy:
	sh scripts/install-deps.sh deploy

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dfault_injection=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Every suite always runs; the summary line counts them all and decides the exit status. The VM
# boot tests (tests/vm/check.sh: every scenario for initramfs-tools and dracut) run last, on
# their own: their guests are timed against the console and want the CPU. Guest images are
# cached in /var/cache/cotter-vm, keyed by their inputs.
ifeq ($(VM),no)
check: build build-asan
else
check: deps-vm deps-deploy build build-asan
endif
	-meson test -C $(BUILD) $(MESON_TEST_FLAGS)
	-meson test -C $(ASAN_BUILD) $(MESON_TEST_FLAGS)
ifneq ($(VM),no)
	-bash tests/vm/check.sh >$(VM_RESULTS)
	-bash tests/deploy/check.sh >$(DEPLOY_RESULTS)
	python3 scripts/test-summary.py $(BUILD) $(ASAN_BUILD) --vm $(VM_RESULTS) --vm $(DEPLOY_RESULTS)
else
	python3 scripts/test-summary.py $(BUILD) $(ASAN_BUILD)
endif

check-vm: deps-vm
	mkdir -p $(dir $(VM_RESULTS))
	-bash tests/vm/check.sh >$(VM_RESULTS)
	python3 scripts/test-summary.py --vm $(VM_RESULTS)

# The Ansible plays, run as `osism apply` runs them, against two key servers and a client with a
# LUKS root (QEMU guests over SSH); the packages come from build-deb/ (make deb) or
# COTTER_DEPLOY_DEBS. Shares the guest cache with check-vm.
check-deploy: deps-deploy
	mkdir -p $(dir $(DEPLOY_RESULTS))
	-bash tests/deploy/check.sh >$(DEPLOY_RESULTS)
	python3 scripts/test-summary.py --vm $(DEPLOY_RESULTS)

demo: build
	bash scripts/demo.sh $(BUILD)

bench: build
	sh scripts/install-deps.sh bench
	bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
