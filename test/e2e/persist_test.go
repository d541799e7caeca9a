package e2e

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// TestKillPersisted: on the file backend, every write acknowledged
// persistent — by GPSPM (persist request, msync) and by FLUSH (the software
// RNIC's FLUSH, msync through the region's hook) — is intact after brickd
// is killed with SIGKILL and restarted. The posture is logged at start-up
// and shown by `brickctl status --json`.
//
// A SIGKILL leaves the page cache alone, so this proves the brick's own
// path (nothing lost or misplaced between acknowledgement, kill and
// restart), not survival of a power failure: the power-fail simulator
// tests (brick, TestPowerFailMethods) do that.
func TestKillPersisted(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, brickdArgs(dir)...)
	if log := d.log.String(); !strings.Contains(log, `msg="persistence posture" backend=file persistent=true domain=none`) ||
		!strings.Contains(log, "methods=gpspm,flush") {
		t.Errorf("start-up log lacks the posture:\n%s", log)
	}
	var st struct {
		Backend     string   `json:"backend"`
		Methods     []string `json:"persist_methods"`
		Persistence struct {
			Domain   string         `json:"domain"`
			Policy   string         `json:"ddio_policy"`
			Software map[string]any `json:"software_rnic"`
			Devices  []any          `json:"rdma_devices"`
		} `json:"persistence"`
	}
	ctlJSON(t, d.Addr, &st, "status")
	if st.Backend != "file (msync)" || strings.Join(st.Methods, ",") != "gpspm,flush" || st.Persistence.Domain != "none" ||
		st.Persistence.Policy != "verify" || st.Persistence.Software["ddio"] != "unknown" || len(st.Persistence.Devices) != 0 {
		t.Errorf("status --json: %+v", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type stream struct {
		name     string
		features uint64
		method   protocol.PersistMethod
		id       uint64
		want     []byte // acknowledged contents
	}
	streams := []*stream{
		{name: "gpspm", features: protocol.FeatureGPSPM, method: protocol.PersistGPSPM, id: client.BlockSize},
		{name: "flush", method: protocol.PersistFlush, id: 2 * client.BlockSize},
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for _, s := range streams {
		c, err := client.Dial(ctx, d.Addr, client.Options{PersistFeatures: s.features})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Alloc(ctx, s.id); err != nil {
			t.Fatal(err)
		}
		h, err := c.Map(ctx, s.id, protocol.MapReadWrite)
		if err != nil {
			t.Fatal(err)
		}
		if h.Method != s.method {
			t.Fatalf("%s: the brick announced %v", s.name, h.Method)
		}
		s.want = make([]byte, client.BlockSize)
		for range 24 {
			n := 1 + rng.IntN(256<<10)
			off := rng.IntN(client.BlockSize - n + 1)
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			if _, err := h.WriteAt(p, int64(off)); err != nil {
				t.Fatal(err)
			}
			if err := h.Persist(ctx, int64(off), int64(n)); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			copy(s.want[off:], p)
		}
	}
	d.kill()

	d = startDaemon(t, brickdArgs(dir)...)
	c, err := client.Dial(ctx, d.Addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range streams {
		h, err := c.Map(ctx, s.id, protocol.MapReadOnly)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, client.BlockSize)
		if _, err := h.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, s.want) {
			i := 0
			for got[i] == s.want[i] {
				i++
			}
			t.Errorf("%s: block %#x differs after kill -9 and restart, first at offset %d", s.name, s.id, i)
		}
	}
}

// TestRefusePersistence: brickd refuses, with a sentence, a DDIO policy
// that can only serve to claim APM on memory that cannot give it.
func TestRefusePersistence(t *testing.T) {
	for _, args := range [][]string{
		{"--ddio", "assume-off"},
		{"--ddio", "disable"},
		{"--ddio", "assume-off", "--pmem-backend", "anonymous"},
		{"--ddio", "sometimes"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			say := "cannot use APM"
			if args[1] == "sometimes" {
				say = "want verify, disable, assume-off or off"
			}
			if stderr := brickdRefuses(t, time.Minute, brickdArgs(dir, args...)...); !strings.Contains(stderr, say) {
				t.Errorf("brickd %v:\n%s", args, stderr)
			}
			if _, serr := os.Stat(filepath.Join(dir, "meta")); serr == nil {
				t.Errorf("brickd %v created its metadata before refusing", args)
			}
		})
	}
}

// TestAnonymousRestart: anonymous memory starts empty, so brickd refuses
// the metadata store an earlier anonymous brick left, with what to do,
// rather than serve blocks whose bytes are gone.
func TestAnonymousRestart(t *testing.T) {
	dir := t.TempDir()
	args := brickdArgs(dir, "--pmem-backend", "anonymous")
	d := startDaemon(t, args...)
	mustCtl(t, d.Addr, "alloc", "0")
	d.term()
	if stderr := brickdRefuses(t, time.Minute, args...); !strings.Contains(stderr, "belongs to an earlier brick") || !strings.Contains(stderr, "give --meta a new directory") {
		t.Errorf("second anonymous brickd on the same --meta:\n%s", stderr)
	}
}
