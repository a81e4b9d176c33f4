# Entry points; the real build is meson (see README.md).
#   make demo    install missing packages, build, run the end-to-end demo on loopback
#   make check   install missing packages, build twice (normal, ASan+UBSan), run every test,
#                then boot the Debian guests of tests/vm (VM=no leaves them out)
#   make bench   benchmarks against the reference, results in bench/results/
#   make check-vm  only the VM boot tests: Debian guests under QEMU whose LUKS root Cotter unlocks
#   make fuzz    libFuzzer on every fuzz target for FUZZ_SECONDS each, in a clang build whose
#                every object is instrumented (build-fuzz); new inputs go to build-fuzz/corpus
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= b64 jwk jwe jws luks-token
VM ?= yes
VM_RESULTS ?= $(BUILD)/vmtest.txt
MESON_TEST_FLAGS ?= --print-errorlogs --timeout-multiplier 2
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

.PHONY: all deps deps-vm deps-fuzz build build-asan check check-vm demo bench fuzz clean

all: build

deps:
	sh scripts/install-deps.sh

deps-vm:
	sh scripts/install-deps.sh vm

deps-fuzz:
	sh scripts/install-deps.sh fuzz

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dfault_injection=true

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false

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
check: deps-vm build build-asan
endif
	-meson test -C $(BUILD) $(MESON_TEST_FLAGS)
	-meson test -C $(ASAN_BUILD) $(MESON_TEST_FLAGS)
ifneq ($(VM),no)
	-bash tests/vm/check.sh >$(VM_RESULTS)
	python3 scripts/test-summary.py $(BUILD) $(ASAN_BUILD) --vm $(VM_RESULTS)
else
	python3 scripts/test-summary.py $(BUILD) $(ASAN_BUILD)
endif

check-vm: deps-vm
	mkdir -p $(dir $(VM_RESULTS))
	-bash tests/vm/check.sh >$(VM_RESULTS)
	python3 scripts/test-summary.py --vm $(VM_RESULTS)

# Each target starts from its corpus in fuzz/corpus (read only) and keeps what it finds in
# $(FUZZ_BUILD)/corpus; a crash stops the run and leaves crash-* in the working directory.
fuzz: deps-fuzz $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) $(addprefix fuzz/fuzz-,$(FUZZ_TARGETS))
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t && \
		$(FUZZ_BUILD)/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) \
			$(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t || exit 1; \
	done

demo: build
	bash scripts/demo.sh $(BUILD)

bench: build
	sh scripts/install-deps.sh bench
	bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
