package client_test

import (
	"os"
	"testing"

	"github.com/brick-storage/brick/internal/leaktest"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }
