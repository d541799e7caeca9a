// Package wire proves that the software RNIC speaks the standard: a real
// brick session runs over loopback through a recording proxy, and
// Wireshark's own dissectors (iwarp_mpa, iwarp_ddp_rdmap) decode the
// capture. The test finds every operation a brick session uses and no
// malformed frame, bad CRC or expert error.
//
// tshark is optional on a developer machine (the test skips without it)
// and required in CI (CI=true): .ci/run installs it.
package wire

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bricktest"
	"github.com/brick-storage/brick/internal/leaktest"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

// tshark finds tshark or skips (fails in CI, which must have it).
func tshark(t *testing.T) string {
	path, err := exec.LookPath("tshark")
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("tshark is not installed; CI must install it (.ci/run does: apt-get install tshark)")
	}
	t.Skip("tshark is not installed: apt-get install tshark to run the wire test")
	return ""
}

func TestBrickSessionDecodes(t *testing.T) {
	bin := tshark(t)
	dir := t.TempDir()
	capture := filepath.Join(dir, "brick.pcap")
	f, err := os.Create(capture)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := newPcapWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	method := runSession(t, dir, pw)
	if pw.mu.err != nil {
		t.Fatalf("writing the capture: %v", pw.mu.err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkCapture(t, bin, capture, method)
}

// runSession drives a brick session through the recording proxy: the MPA
// exchange, hello and verbs as Sends, data as RDMA Writes and Reads, GPSPM
// Persist, a rejected connection, and a Write with a revoked key, which the
// brick's RNIC answers with a Terminate.
func runSession(t *testing.T, dir string, pw *pcapWriter) protocol.PersistMethod {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := bricktest.Start(t, bricktest.Options{Frames: 4, File: true, Dir: dir, Config: brick.Config{MaxSessions: 1}})
	defer b.Stop()
	px := startProxy(t, strings.TrimPrefix(b.Addr, "tcp://"), pw)
	defer px.close()
	addr := "tcp://" + px.addr()

	c, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A second session is over the brick's limit: an MPA Reply with the
	// reject bit and private data.
	if c2, err := client.Dial(ctx, addr, client.Options{}); err == nil {
		c2.Close()
		t.Fatal("a session over MaxSessions was accepted")
	}
	const id = 0
	if err := c.Alloc(ctx, id); err != nil {
		t.Fatal(err)
	}
	h, err := c.Map(ctx, id, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300<<10) // several FPDUs each way
	for i := range data {
		data[i] = byte(i*13 + 1)
	}
	if _, err := h.WriteAt(data, 4096); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if _, err := h.ReadAt(got, 4096); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read back differs")
	}
	if h.Method != protocol.PersistNone {
		if err := h.Persist(ctx, 4096, int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	stale := *h
	if err := h.Unmap(ctx); err != nil {
		t.Fatal(err)
	}
	// The brick revoked the key: its RNIC terminates the connection.
	if _, err := stale.WriteAt(data[:64], 0); !errors.Is(err, verbs.ErrRemoteAccess) {
		t.Fatalf("write with a revoked key: %v, want a remote access error", err)
	}
	<-c.Done()
	return h.Method
}

// frame is one decoded packet of interest.
type frame struct {
	no, opcodes, rejected, mpaReq, mpaRep string
	termLayer, termTypeRDMA, termTypeDDP  string
}

// checkCapture decodes the capture with Wireshark and checks it.
func checkCapture(t *testing.T, bin, capture string, method protocol.PersistMethod) {
	base := []string{"-r", capture, "-n",
		"-o", "tcp.desegment_tcp_streams:TRUE",
		// iwarp_mpa is a heuristic TCP dissector, on by default. Send
		// payloads are brick's own protocol, which Wireshark does not
		// know; the RPC-over-RDMA and SMB Direct heuristics would guess
		// at them and report their own parse failures as malformed.
		"--disable-protocol", "rpcordma", "--disable-protocol", "smb_direct",
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(append([]string{}, base...), args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	fields := run("-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=|",
		"-e", "frame.number", "-e", "iwarp_rdma.opcode", "-e", "iwarp_mpa.rej_flag",
		"-e", "iwarp_mpa.key.req", "-e", "iwarp_mpa.key.rep",
		"-e", "iwarp_rdma.term_layer", "-e", "iwarp_rdma.term_etype_rdma", "-e", "iwarp_rdma.term_etype_ddp")
	seen := map[string]int{}
	var fpdus int
	for _, line := range strings.Split(strings.TrimSpace(fields), "\n") {
		c := strings.Split(line, "|")
		if len(c) != 8 {
			t.Fatalf("tshark fields line %q", line)
		}
		fr := frame{c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]}
		if fr.termLayer != "" {
			// RFC 5040 §7: a revoked STag is a DDP tagged buffer error
			// (layer 1, type 1) or an RDMAP remote protection error
			// (layer 0, type 1).
			ok := fr.termLayer == "0x01" && fr.termTypeDDP == "0x01" || fr.termLayer == "0x00" && fr.termTypeRDMA == "0x01"
			if !ok {
				t.Errorf("frame %s: Terminate with layer %s, RDMAP type %q, DDP type %q; want a tagged buffer or remote protection error",
					fr.no, fr.termLayer, fr.termTypeRDMA, fr.termTypeDDP)
			}
		}
		if fr.mpaReq != "" {
			seen["MPA Request"]++
		}
		if fr.mpaRep != "" {
			seen["MPA Reply"]++
			if strings.Contains(fr.rejected, "1") || strings.Contains(fr.rejected, "True") {
				seen["MPA Reply (reject)"]++
			}
		}
		if fr.opcodes == "" {
			continue
		}
		for _, op := range strings.Split(fr.opcodes, ",") {
			fpdus++
			switch op {
			case "0", "0x00":
				seen["RDMA Write"]++
			case "1", "0x01":
				seen["RDMA Read Request"]++
			case "2", "0x02":
				seen["RDMA Read Response"]++
			case "3", "0x03":
				seen["Send"]++
			case "7", "0x07":
				seen["Terminate"]++
			// The software RNIC's negotiated extensions (verbs/soft doc):
			// Wireshark shows their opcodes without decoding them.
			case "12", "0x0c":
				seen["ATOMIC WRITE (extension)"]++
			case "13", "0x0d":
				seen["FLUSH Request (extension)"]++
			case "14", "0x0e":
				seen["FLUSH Response (extension)"]++
			default:
				seen["opcode "+op]++
			}
		}
	}
	t.Logf("decoded: %v (%d DDP segments)", seen, fpdus)
	wants := []string{"MPA Request", "MPA Reply", "MPA Reply (reject)", "RDMA Write",
		"RDMA Read Request", "RDMA Read Response", "Send", "Terminate"}
	if method == protocol.PersistFlush {
		wants = append(wants, "FLUSH Request (extension)", "FLUSH Response (extension)")
	}
	for _, want := range wants {
		if seen[want] == 0 {
			t.Errorf("no %s in the capture", want)
		}
	}

	// No malformed frame and no expert error anywhere.
	if bad := run("-Y", "_ws.malformed || _ws.expert.severity >= 0x800000", "-T", "fields",
		"-e", "frame.number", "-e", "_ws.expert.message"); strings.TrimSpace(bad) != "" {
		t.Errorf("frames flagged malformed or with expert errors:\n%s", bad)
	}
	// Every FPDU's CRC checks out (the dissector reports a bad CRC in text,
	// not as expert info).
	verbose := run("-V")
	good := len(regexp.MustCompile(`Good CRC32`).FindAllStringIndex(verbose, -1))
	if n := strings.Count(verbose, "Bad CRC32"); n > 0 {
		t.Errorf("%d FPDUs with a bad CRC", n)
	}
	if good != fpdus {
		t.Errorf("%d good CRCs for %d DDP segments", good, fpdus)
	}
	if t.Failed() {
		t.Logf("capture kept at %s", keep(t, capture))
	}
}

// keep copies a failing capture where it survives the test's temp dir.
func keep(t *testing.T, capture string) string {
	b, err := os.ReadFile(capture)
	if err != nil {
		return capture
	}
	dst := filepath.Join(os.TempDir(), "brick-wire-"+time.Now().Format("150405")+".pcap")
	if os.WriteFile(dst, b, 0o644) != nil {
		return capture
	}
	return dst
}
