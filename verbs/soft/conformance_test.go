package soft_test

import (
	"testing"

	"github.com/brick-storage/brick/verbs/soft"
	"github.com/brick-storage/brick/verbs/verbstest"
)

// TestConformance runs the provider conformance suite on the software RNIC.
func TestConformance(t *testing.T) {
	verbstest.Run(t, soft.New(), "127.0.0.1:0")
}
