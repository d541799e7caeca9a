package pmem

import (
	"os"
	"strings"
	"testing"
	"unsafe"
)

func TestChooseFlush(t *testing.T) {
	have := probeCPU()
	tests := []struct {
		f    cpuFeatures
		want string
	}{
		{cpuFeatures{clflush: true, clflushopt: true, clwb: true}, "clwb"},
		{cpuFeatures{clflush: true, clwb: true}, "clwb"},
		{cpuFeatures{clflush: true, clflushopt: true}, "clflushopt"},
		{cpuFeatures{clflush: true}, "clflush"},
		{cpuFeatures{}, ""},
	}
	for _, tt := range tests {
		name, fn := chooseFlush(tt.f)
		if name != tt.want || (fn == nil) != (tt.want == "") {
			t.Errorf("%+v: chose %q", tt.f, name)
		}
	}
	// Run each variant the CPU has, on an unaligned range.
	b := make([]byte, 300)
	p := unsafe.Pointer(&b[3])
	if have.clwb {
		flushCLWB(p, 200)
	}
	if have.clflushopt {
		flushCLFLUSHOPT(p, 200)
	}
	if have.clflush {
		flushCLFLUSH(p, 200)
	}
	sfence()
	if !have.clflush {
		t.Error("CPUID says no CLFLUSH; every x86-64 CPU has it (is leaf 1 EDX read right?)")
	}
	if want, _ := chooseFlush(have); want != CPUFlushInstruction() {
		t.Errorf("chosen %q, probe says %q", CPUFlushInstruction(), want)
	}
}

// TestCPUIDAgreesWithKernel compares the asm CPUID probe with the flags the
// kernel reports (its own CPUID reading) where /proc/cpuinfo exists.
func TestCPUIDAgreesWithKernel(t *testing.T) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip("no /proc/cpuinfo")
	}
	var flags map[string]bool
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			flags = map[string]bool{}
			for _, f := range strings.Fields(v) {
				flags[f] = true
			}
			break
		}
	}
	if flags == nil {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	have := probeCPU()
	for name, got := range map[string]bool{"clflush": have.clflush, "clflushopt": have.clflushopt, "clwb": have.clwb} {
		if got != flags[name] {
			t.Errorf("CPUID says %s=%v, kernel says %v", name, got, flags[name])
		}
	}
}
