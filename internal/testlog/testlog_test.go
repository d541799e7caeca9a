package testlog

import (
	"strings"
	"testing"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	b.Logger().Debug("session ended", "peer", "127.0.0.1:1")
	if got := b.String(); !strings.Contains(got, `msg="session ended" peer=127.0.0.1:1`) {
		t.Fatalf("logged %q", got)
	}
}
