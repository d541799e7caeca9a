package brick_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bricktest"
	"github.com/brick-storage/brick/persist"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/pmem/powerfail"
	"github.com/brick-storage/brick/protocol"
)

// startBrick serves region (metadata in dir/meta) under DDIO policy pol,
// over the software RNIC, for a test that crashes the region (the
// power-fail simulator) and restarts on it: Stop leaves the image. The
// posture is probed as brickd would, with the simulator's DDIO setting (if
// region is the simulator) as the software RNIC's hardware truth. The
// brick lives up to ten minutes: benchmarks use it too.
func startBrick(t testing.TB, dir string, region pmem.Region, pol protocol.DDIOPolicy) *bricktest.Brick {
	t.Helper()
	posture, err := persist.Probe(persist.Options{Policy: pol, Memory: region.Properties(), Software: true,
		SoftwareDDIO: persist.ModelledDDIO(region.Properties()), NoDevices: true, SysRoot: t.TempDir(), ProcRoot: t.TempDir()})
	if err != nil {
		region.Close()
		t.Fatal(err)
	}
	return bricktest.Start(t, bricktest.Options{Region: region, Dir: dir, Lifetime: 10 * time.Minute,
		Config: brick.Config{Persistence: posture}})
}

// pfModel is what the client was told: for each byte, whether a persist
// covering it completed after its last write (acked = 1), and the value
// then (want).
type pfModel struct {
	live, want, acked []byte
}

func newPFModel(n int) *pfModel {
	return &pfModel{live: make([]byte, n), want: make([]byte, n), acked: make([]byte, n)}
}

func (m *pfModel) wrote(off int, p []byte) {
	copy(m.live[off:], p)
	clear(m.acked[off : off+len(p)]) // a newer write is not acknowledged yet
}

func (m *pfModel) persisted(off, n int) {
	copy(m.want[off:off+n], m.live[off:off+n])
	if a := m.acked[off : off+n]; n > 0 {
		a[0] = 1
		for k := 1; k < n; k *= 2 {
			copy(a[k:], a[:k])
		}
	}
}

// lost counts acknowledged bytes that img does not hold, and the first.
// It compares whole chunks where it can: the race detector makes a
// byte-at-a-time loop over megabytes slow.
func (m *pfModel) lost(img []byte) (n, first int) {
	const chunk = 4096
	first = -1
	for c := 0; c < len(img); c += chunk {
		a, w, g := m.acked[c:c+chunk], m.want[c:c+chunk], img[c:c+chunk]
		switch {
		case bytes.IndexByte(a, 1) < 0:
			continue
		case bytes.IndexByte(a, 0) < 0 && bytes.Equal(w, g):
			continue
		}
		for i := range a {
			if a[i] == 1 && w[i] != g[i] {
				if first < 0 {
					first = c + i
				}
				n++
			}
		}
	}
	return n, first
}

func (m *pfModel) ackedBytes() int { return bytes.Count(m.acked, []byte{1}) }

// TestPowerFailMethods: random write/persist streams over the full stack
// (client, software RNIC, brick, simulator), cut by a crash at a random
// point, per method. Every write acknowledged persistent by FLUSH, by APM
// with DDIO off and by GPSPM survives, checked both in the simulator's
// persistent image and through a brick restarted on it. APM with DDIO on,
// declared off by a mistaken administrator, loses acknowledged writes: the
// test demands the loss, since it is why the DDIO policy exists.
func TestPowerFailMethods(t *testing.T) {
	const (
		blocks = 2
		rounds = 4
		ops    = 40
	)
	tests := []struct {
		name     string
		ddio     bool // the simulated platform's DDIO
		eadr     bool // the simulated memory's domain is the CPU cache
		pol      protocol.DDIOPolicy
		features uint64 // what the client asks for (0: everything)
		want     protocol.PersistMethod
		loses    bool
	}{
		{"FLUSH", true, false, protocol.DDIOPolicyVerify, 0, protocol.PersistFlush, false},
		{"APM with DDIO off", false, false, protocol.DDIOPolicyVerify, protocol.FeatureAPM, protocol.PersistAPM, false},
		{"GPSPM", true, false, protocol.DDIOPolicyVerify, protocol.FeatureGPSPM, protocol.PersistGPSPM, false},
		{"verify refuses APM with DDIO on", true, false, protocol.DDIOPolicyVerify, protocol.FeatureAPM, protocol.PersistGPSPM, false},
		{"APM with DDIO on under eADR", true, true, protocol.DDIOPolicyVerify, protocol.FeatureAPM, protocol.PersistAPM, false},
		{"APM with DDIO on declared off", true, false, protocol.DDIOPolicyAssumeOff, protocol.FeatureAPM, protocol.PersistAPM, true},
	}
	for ti, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for round := range rounds {
				seed := uint64(ti)<<32 | uint64(round)
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					cfg := powerfail.Config{DDIO: tc.ddio}
					if tc.eadr {
						cfg.Domain = pmem.DomainEADR
					}
					powerFailRound(t, seed, cfg, tc.pol, tc.features, tc.want, tc.loses, blocks, ops)
				})
			}
		})
	}
}

func powerFailRound(t *testing.T, seed uint64, cfg powerfail.Config, pol protocol.DDIOPolicy, features uint64,
	want protocol.PersistMethod, loses bool, blocks, ops int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(seed, 0xb71c))
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	data := rand.NewChaCha8(key)
	dir := t.TempDir()
	region, err := powerfail.New(int64(blocks+2)*pmem.FrameSize, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := startBrick(t, dir, region, pol)
	c, err := client.Dial(ctx, b.Addr, client.Options{PersistFeatures: features})
	if err != nil {
		t.Fatal(err)
	}
	handles := make([]*client.Handle, blocks)
	models := make([]*pfModel, blocks)
	for i := range handles {
		id := uint64(i+1) * block
		if err := c.Alloc(ctx, id); err != nil {
			t.Fatal(err)
		}
		if handles[i], err = c.Map(ctx, id, protocol.MapReadWrite); err != nil {
			t.Fatal(err)
		}
		if handles[i].Method != want {
			t.Fatalf("method %v, want %v", handles[i].Method, want)
		}
		models[i] = newPFModel(block)
	}

	// The stream: writes of up to 64 KiB, persists of the range just
	// written or of a random range, and a crash after a random number of
	// operations (at least one write and its persist first).
	crashAt := 2 + rng.IntN(ops-1)
	for op := 0; op < crashAt; op++ {
		i := rng.IntN(blocks)
		h, m := handles[i], models[i]
		switch {
		case op == 0 || rng.IntN(3) != 0:
			n := 1 + rng.IntN(32<<10)
			off := rng.IntN(block - n + 1)
			p := make([]byte, n)
			data.Read(p)
			if _, err := h.WriteAt(p, int64(off)); err != nil {
				t.Fatal(err)
			}
			m.wrote(off, p)
			if op == 0 || rng.IntN(2) == 0 {
				if err := h.Persist(ctx, int64(off), int64(n)); err != nil {
					t.Fatal(err)
				}
				m.persisted(off, n)
			}
		default:
			n := rng.IntN(block / 4)
			off := rng.IntN(block - n + 1)
			if err := h.Persist(ctx, int64(off), int64(n)); err != nil {
				t.Fatal(err)
			}
			m.persisted(off, n)
		}
	}

	// Power fails. Frames are looked up before the brick goes away.
	frames := make([]uint64, blocks)
	for i := range frames {
		bl, err := b.Store.Lookup(uint64(i+1) * block)
		if err != nil {
			t.Fatal(err)
		}
		frames[i] = bl.Frame
	}
	crashed := region.Crash()
	c.Close()
	b.Stop()

	lost := 0
	for i, m := range models {
		n, first := m.lost(crashed.Frame(frames[i]))
		if n > 0 && !loses {
			t.Errorf("block %d: %d of %d acknowledged bytes lost, the first at offset %d", i, n, m.ackedBytes(), first)
		}
		lost += n
	}
	if loses {
		if lost == 0 {
			t.Fatal("APM with DDIO on kept every acknowledged write: the simulator does not model DDIO")
		}
		t.Logf("as expected, %d acknowledged bytes lost with DDIO on", lost)
		crashed.Close()
		return
	}

	// The same check through a brick restarted on what the crash left.
	b = startBrick(t, dir, crashed, pol)
	defer b.Stop()
	c, err = client.Dial(ctx, b.Addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, m := range models {
		h, err := c.Map(ctx, uint64(i+1)*block, protocol.MapReadOnly)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, block)
		if _, err := h.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if n, first := m.lost(got); n > 0 {
			t.Errorf("after restart, block %d: %d acknowledged bytes lost, the first at offset %d", i, n, first)
		}
	}
}

// TestPowerFailStatus: the status reply carries the posture — the
// simulator's DDIO setting as the software RNIC's, and the methods that
// follow from it — and describes the simulator by its capabilities, not
// by a name.
func TestPowerFailStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		ddio    bool
		state   protocol.DDIOState
		methods protocol.PersistMethods
	}{
		{false, protocol.DDIOOff, 1<<protocol.PersistGPSPM | 1<<protocol.PersistAPM | 1<<protocol.PersistFlush},
		{true, protocol.DDIOOn, 1<<protocol.PersistGPSPM | 1<<protocol.PersistFlush},
	} {
		region, err := powerfail.New(3*pmem.FrameSize, powerfail.Config{DDIO: tc.ddio})
		if err != nil {
			t.Fatal(err)
		}
		b := startBrick(t, t.TempDir(), region, protocol.DDIOPolicyVerify)
		c, err := client.Dial(ctx, b.Addr, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.Status(ctx)
		c.Close()
		b.Stop()
		if err != nil {
			t.Fatal(err)
		}
		if st.Backend != protocol.BackendOther || st.Capabilities != protocol.CapCPUFlush || st.CPUFlush != protocol.CPUFlushOther ||
			!st.Persistent || st.Methods != tc.methods ||
			st.Domain != pmem.DomainADR || st.DDIOPolicy != protocol.DDIOPolicyVerify ||
			!st.SoftwareRNIC || st.SoftwareDDIO != tc.state || len(st.Devices) != 0 {
			t.Errorf("DDIO %v: status %+v", tc.ddio, st)
		}
	}
}

// TestPowerFailZeroOnReuse: a frame handed to a new block is zero in the
// persistence domain, not just in live memory. The previous owner
// persisted a secret, then overwrote it with zeros it never persisted
// (with DDIO on they sit in the CPU cache), then freed the block: the
// frame reads as zero, but a crash would bring the secret back to the next
// owner unless the brick makes the zeroing durable anyway.
func TestPowerFailZeroOnReuse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	region, b, c := startDDIOBrick(t, ctx, dir, 3)
	secret := bytes.Repeat([]byte("secret!!"), block/8)
	h := leaveSecret(t, ctx, c, secret)
	for _, step := range []error{h.Unmap(ctx), c.Free(ctx, block), c.Alloc(ctx, 2*block)} {
		if step != nil {
			t.Fatal(step)
		}
	}
	h, err := c.Map(ctx, 2*block, protocol.MapReadOnly) // places the new block in the freed frame
	if err != nil {
		t.Fatal(err)
	}
	bl, err := b.Store.Lookup(2 * block)
	if err != nil {
		t.Fatal(err)
	}
	crashed := region.Crash()
	c.Close()
	b.Stop()
	defer crashed.Close()
	if got := crashed.Frame(bl.Frame); bytes.Contains(got, []byte("secret!!")) {
		t.Fatal("after a crash, the new owner's frame holds the previous owner's bytes")
	}
}
