package protocol

import "testing"

// TestStatusEnumNames: every StatusReply enum names its values, and a value
// the protocol does not define reads as such rather than as a neighbour.
func TestStatusEnumNames(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{BackendFile.String(), "file (msync)"},
		{BackendOther.String(), "other"},
		{Backend(5).String(), "other"},
		{CPUFlushCLWB.String(), "clwb+sfence"},
		{CPUFlush(200).String(), "unknown"},
		{(CapCPUFlush | CapVolatile).String(), "durable by CPU flush, volatile"},
		{Capability(0).String(), "none"},
		{(CapMsync | 1<<7).String(), "durable by msync, unknown bits"},
		{DomainMemoryController.String(), "memory_controller (ADR)"},
		{DomainCPUCache.Label(), "eadr"},
		{DDIOPolicyAssumeOff.String(), "assume-off"},
		{DDIODeclaredOff.Label(), "declared-off"},
		{DDIOOff.String(), "off (verified)"},
		{PlatformCascadeLake.String(), "Intel Cascade Lake"},
		{DDIOReasonNoPortControl.Sentence(PlatformIntelOther), "Intel (no per-port DDIO control) has no per-port DDIO control (BIOS setting only); if DDIO is off in the BIOS, declare it with --ddio assume-off"},
		{DDIOReason(99).Sentence(PlatformAMD), "unknown"},
		{StatusNoSession.Label(), "enosession"},
		{Status(99).Label(), "internal"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// TestCPUFlushOf: pmem's mnemonics map to their codes; an instruction the
// protocol does not name is still a CPU flush.
func TestCPUFlushOf(t *testing.T) {
	for name, want := range map[string]CPUFlush{
		"": CPUFlushNone, "clflush": CPUFlushCLFLUSH, "clflushopt": CPUFlushCLFLUSHOPT,
		"clwb": CPUFlushCLWB, "sfence": CPUFlushSFENCE, "simulated": CPUFlushOther,
	} {
		if got := CPUFlushOf(name); got != want {
			t.Errorf("CPUFlushOf(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestPersistMethods: the status reply's set of methods lists the methods
// its bits name, in order, and leaves out bits that name none; each method
// maps to the hello feature that asks for it.
func TestPersistMethods(t *testing.T) {
	all := PersistMethods(0).With(PersistFlush).With(PersistGPSPM).With(PersistAPM)
	if got := all.List(); len(got) != 3 || got[0] != PersistGPSPM || got[1] != PersistAPM || got[2] != PersistFlush || all != 14 {
		t.Errorf("List of %#x = %v", uint8(all), got)
	}
	if got := PersistMethods(1 | 1<<7).List(); len(got) != 0 {
		t.Errorf("bits that name no method listed as %v", got)
	}
	if all.Has(PersistNone) || !all.Has(PersistAPM) || PersistMethods(2).Has(PersistAPM) {
		t.Error("Has is wrong")
	}
	for m, f := range map[PersistMethod]uint64{PersistNone: 0, PersistGPSPM: FeatureGPSPM, PersistAPM: FeatureAPM, PersistFlush: FeatureFlush, 9: 0} {
		if m.Feature() != f {
			t.Errorf("%v.Feature() = %#x, want %#x", m, m.Feature(), f)
		}
	}
}
