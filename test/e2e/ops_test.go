package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPutGetSpan: files larger than a block span consecutive blocks; put
// refuses a span with unallocated blocks before writing anything unless
// --alloc; get reads exactly --length, or to the end of the allocated run.
func TestPutGetSpan(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, brickdArgs(dir)...)
	a := d.Addr
	src, data := randomFile(t, dir, "big", 5*mib+123) // 3 blocks from offset 0, 4 from offset 1.5 MiB

	mustCtl(t, a, "alloc", "0x200000")
	if r := ctl(t, a, "put", "0x200000", src); r.code != 14 || !strings.Contains(r.stderr, "0x400000") || !strings.Contains(r.stderr, "--alloc") {
		t.Fatalf("put over unallocated blocks: exit %d %q", r.code, r.stderr)
	}
	if got := get(t, a, "0x200000"); !bytes.Equal(got, make([]byte, 2*mib)) {
		t.Fatal("a refused put wrote into the first block")
	}

	var put struct {
		Blocks    int    `json:"blocks"`
		Allocated int    `json:"allocated"`
		Last      string `json:"last"`
		Bytes     int64  `json:"bytes"`
	}
	ctlJSON(t, a, &put, "put", "--alloc", "--offset", strconv.Itoa(3*mib/2), "0x200000", src)
	if put.Blocks != 4 || put.Allocated != 3 || put.Last != "0x800000" || put.Bytes != int64(len(data)) {
		t.Fatalf("put = %+v, want 4 blocks to 0x800000, 3 allocated", put)
	}

	if got := get(t, a, "--offset", strconv.Itoa(3*mib/2), "--length", strconv.Itoa(len(data)), "0x200000"); !bytes.Equal(got, data) {
		t.Fatal("get --length returned different bytes than put wrote")
	}
	// Without --length: the whole run 0x200000…0x800000 (4 blocks).
	got := get(t, a, "0x200000")
	if len(got) != 4*2*mib || !bytes.Equal(got[3*mib/2:3*mib/2+len(data)], data) {
		t.Fatalf("get without --length read %d bytes, want the 4-block run holding the file", len(got))
	}
	// A range past the run is refused, naming the first missing block.
	cp := filepath.Join(dir, "copy")
	if r := ctl(t, a, "get", "--length", strconv.Itoa(9*mib), "0x200000", cp); r.code != 14 || !strings.Contains(r.stderr, "0xa00000") {
		t.Fatalf("get past the run: exit %d %q", r.code, r.stderr)
	}
	// Not a terminal: no progress bar on stderr.
	if r := ctl(t, a, "get", "--length", "10", "0x200000", cp); r.code != 0 || strings.Contains(r.stderr, "\r") {
		t.Fatalf("get to a pipe: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestPutSpanEdges: an --offset of a block or more starts the span in a
// later block, and put reports that block; a put --alloc the brick has no
// room for is refused before it allocates or writes anything.
func TestPutSpanEdges(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, brickdArgs(dir)...) // 64 MiB: room for 31 blocks
	a := d.Addr
	src, data := randomFile(t, dir, "small", 1000)

	mustCtl(t, a, "alloc", "0x400000")
	var put struct {
		ID     string `json:"id"`
		Offset int64  `json:"offset"`
		Blocks int    `json:"blocks"`
	}
	ctlJSON(t, a, &put, "put", "--offset", strconv.Itoa(2*mib+100), "0x200000", src)
	if put.ID != "0x400000" || put.Offset != 100 || put.Blocks != 1 {
		t.Fatalf("put --offset 2MiB+100 at 0x200000 = %+v, want block 0x400000 at offset 100", put)
	}
	if got := get(t, a, "--offset", "100", "--length", "1000", "0x400000"); !bytes.Equal(got, data) {
		t.Fatal("get of the block put reported returned different bytes")
	}

	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 40*2*mib); err != nil { // 40 blocks
		t.Fatal(err)
	}
	if r := ctl(t, a, "put", "--alloc", "0x1000000", big); r.code != 12 || !strings.Contains(r.stderr, "room for 30") {
		t.Fatalf("put --alloc of 40 blocks into room for 30: exit %d %q", r.code, r.stderr)
	}
	if out := mustCtl(t, a, "list"); !strings.Contains(out, "1 extent(s), 1 block(s)") {
		t.Fatalf("a refused put --alloc left blocks allocated:\n%s", out)
	}

	// Allocated but never mapped, 29 more blocks take no frame: the
	// frames are free, the room is not, and the bench says so.
	for i := range 29 {
		mustCtl(t, a, "alloc", fmt.Sprintf("%#x", 0x1000000+i*2*mib))
	}
	if r := ctl(t, a, "bench", "--duration", "100ms"); r.code != 12 || !strings.Contains(r.stderr, "room for 1") {
		t.Fatalf("bench on a brick with room for one block: exit %d %q", r.code, r.stderr)
	}
}

// TestBench runs a tiny bench against a real brickd: every case reports
// operations and latencies, the HTML report is written, and the bench's
// blocks are freed afterwards.
func TestBench(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, brickdArgs(dir)...)
	html := filepath.Join(dir, "bench.html")
	var rep struct {
		Methods []string `json:"persist_methods"`
		Results []struct {
			Group   string  `json:"group"`
			Op      string  `json:"op"`
			Method  string  `json:"method"`
			Size    int     `json:"size"`
			Ops     uint64  `json:"ops"`
			Bytes   uint64  `json:"bytes"`
			Rate    float64 `json:"ops_per_sec"`
			Skipped string  `json:"skipped"`
			Error   string  `json:"error"`
			Latency struct {
				P50 int64 `json:"p50_ns"`
				Max int64 `json:"max_ns"`
			} `json:"latency"`
			Hist []struct{ Count uint64 } `json:"histogram"`
		} `json:"results"`
	}
	ctlJSON(t, d.Addr, &rep, "bench", "--duration", "200ms", "--size", "4KiB,2MiB", "--html", html)
	var names []string
	for _, r := range rep.Results {
		name := r.Op
		if r.Method != "" {
			name += "/" + r.Method
		}
		if r.Size > 0 {
			name += fmt.Sprintf("/%d", r.Size)
		}
		names = append(names, name)
		if r.Error != "" || r.Skipped != "" {
			t.Errorf("%s %d: error %q skipped %q", r.Op, r.Size, r.Error, r.Skipped)
			continue
		}
		var n uint64
		for _, b := range r.Hist {
			n += b.Count
		}
		if r.Ops == 0 || r.Rate <= 0 || r.Latency.P50 <= 0 || r.Latency.Max < r.Latency.P50 || n != r.Ops {
			t.Errorf("%s %d: %+v", r.Op, r.Size, r)
		}
		if r.Group != "control" && r.Bytes != r.Ops*uint64(r.Size) {
			t.Errorf("%s %d: %d bytes for %d ops", r.Op, r.Size, r.Bytes, r.Ops)
		}
	}
	// write+persist once per method the brick offers, each session asking
	// for that method only.
	want := "alloc map-rw free cycle write/4096 write/2097152 read/4096 read/2097152"
	if len(rep.Methods) < 2 {
		t.Errorf("a file-backed brick offers %v; want gpspm and more", rep.Methods)
	}
	for _, m := range rep.Methods {
		want += fmt.Sprintf(" write+persist/%s/4096 write+persist/%s/2097152", m, m)
	}
	if got := strings.Join(names, " "); got != want {
		t.Errorf("cases %s\nwant  %s", got, want)
	}
	page, err := os.ReadFile(html)
	if err != nil || !bytes.Contains(page, []byte("<svg")) || bytes.Contains(page, []byte("<script")) {
		t.Errorf("html report: %v, %d bytes", err, len(page))
	}
	if es := listJSON(t, d.Addr); len(es) != 0 {
		t.Errorf("the bench left blocks allocated: %v", es)
	}
	// It refuses to run over allocated blocks.
	mustCtl(t, d.Addr, "alloc", "0x400000000000")
	if r := ctl(t, d.Addr, "bench", "--duration", "10ms", "--ops", "write"); r.code != 2 || !strings.Contains(r.stderr, "choose another --base") {
		t.Errorf("bench over an allocated block: exit %d %q", r.code, r.stderr)
	}
}

// TestConfigFile: brickd reads its settings from --config, and a flag
// overrides the file.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "brickd.yaml")
	body := fmt.Sprintf("pmem: %s\npmem-size: 64MiB\nmeta: %s\nlisten: tcp://127.0.0.1:0\nmetrics: \"\"\nlog-level: debug\n",
		filepath.Join(dir, "from-config.img"), filepath.Join(dir, "meta"))
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--config", cfg, "--pmem-size", "32MiB")
	var st struct {
		Frames uint64 `json:"frames"`
	}
	ctlJSON(t, d.Addr, &st, "status")
	if st.Frames != 15 { // 32 MiB: a superblock frame and 15 data frames
		t.Errorf("frames = %d: --pmem-size did not override the config's 64MiB", st.Frames)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-config.img")); err != nil {
		t.Errorf("the config's pmem path was not used: %v", err)
	}

	// An unknown key stops brickd with a sentence naming it.
	if err := os.WriteFile(cfg, []byte("pmem: x\nlisen: tcp://1.2.3.4:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if stderr := brickdRefuses(t, time.Minute, "--config", cfg); !strings.Contains(stderr, "unknown key(s) lisen") {
		t.Errorf("unknown key:\n%s", stderr)
	}
}

// TestMetricsStates: blocks by state, bytes through the software RNIC and
// the metadata store's health are exported.
func TestMetricsStates(t *testing.T) {
	dir := t.TempDir()
	d, metrics := startWithMetrics(t, dir)
	for _, id := range []string{"0x200000", "0x400000", "0x600000"} {
		mustCtl(t, d.Addr, "alloc", id)
	}
	src, _ := randomFile(t, dir, "f", mib)
	mustCtl(t, d.Addr, "put", "0x200000", src)
	mustCtl(t, d.Addr, "get", "--length", strconv.Itoa(mib), "0x200000", filepath.Join(dir, "g"))
	release := holdMap(t, d.Addr, "--rw", "0x400000")
	defer release()

	body := scrape(t, metrics)
	metric := func(name string) float64 {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`)
		mm := re.FindSubmatch(body)
		if mm == nil {
			t.Errorf("no %s", name)
			return -1
		}
		v, _ := strconv.ParseFloat(string(mm[1]), 64)
		return v
	}
	for name, want := range map[string]float64{
		`brick_blocks_by_state{state="resident"}`:  2,
		`brick_blocks_by_state{state="mapped-rw"}`: 1,
		`brick_blocks_by_state{state="mapped-ro"}`: 0,
		`brick_blocks_by_state{state="unclean"}`:   0,
	} {
		if got := metric(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := metric("brick_soft_write_bytes_total"); got < mib {
		t.Errorf("brick_soft_write_bytes_total = %v, want ≥ 1 MiB", got)
	}
	if got := metric("brick_soft_read_bytes_total"); got < mib {
		t.Errorf("brick_soft_read_bytes_total = %v, want ≥ 1 MiB", got)
	}
	if got := metric("brick_meta_disk_usage_bytes"); got <= 0 {
		t.Errorf("brick_meta_disk_usage_bytes = %v", got)
	}
	if got := metric("brick_meta_wal_fsync_duration_seconds_count"); got < 3 {
		t.Errorf("brick_meta_wal_fsync_duration_seconds_count = %v, want ≥ 3 (three synced allocs)", got)
	}
	metric("brick_meta_read_amplification")
	if got := metric(`brick_persist_method_offered{method="gpspm"}`); got != 1 {
		t.Errorf("gpspm offered = %v on a file backend", got)
	}
	for _, want := range []string{"brick_persistence_domain_info{", `brick_ddio_info{device="soft"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestCompletion: the scripts parse, and brickctl answers completion
// queries with its commands, a command's flags for a word starting with -,
// and nothing (the shell offers files) where a command takes a file.
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, err := exec.Command(filepath.Join(binDir, "brickctl"), "completion", sh).Output()
		if err != nil || !bytes.Contains(out, []byte("--generate-shell-completion")) {
			t.Errorf("completion %s: %v", sh, err)
		}
		if sh == "bash" {
			cmd := exec.Command("bash", "-n")
			cmd.Stdin = bytes.NewReader(out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("bash -n: %v %s", err, b)
			}
		}
	}
	query := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(binDir, "brickctl"), append(args, "--generate-shell-completion")...).Output()
		if err != nil {
			t.Errorf("completion query %v: %v", args, err)
		}
		return string(out)
	}
	if out := query(); !strings.Contains(out, "bench") || !strings.Contains(out, "put") {
		t.Errorf("completion query: %q", out)
	}
	if out := query("put", "--a"); !strings.Contains(out, "--alloc") || !strings.Contains(out, "--addr") {
		t.Errorf("completion of put --a: %q, want --alloc and --addr", out)
	}
	if out := query("put", "0x200000"); out != "" {
		t.Errorf("completion of put's FILE: %q, want nothing (the shell offers files)", out)
	}
	if r := ctl(t, "tcp://127.0.0.1:1", "completion", "tcsh"); r.code != 2 {
		t.Errorf("completion tcsh: exit %d", r.code)
	}
}
