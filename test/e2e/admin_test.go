package e2e

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

type sessionJSON struct {
	ID   uint64 `json:"id"`
	Peer string `json:"peer"`
	Auth string `json:"auth"`
	Self bool   `json:"self"`
	Maps []struct {
		ID     string `json:"id"`
		Access string `json:"access"`
	} `json:"maps"`
}

// TestAdminVerbs: brickctl sessions, unmap of another session's map,
// revoke, revoke --end and free FIRST..LAST against a real brickd, with
// their documented exit codes.
func TestAdminVerbs(t *testing.T) {
	d := startDaemon(t, brickdArgs(t.TempDir())...)
	a := d.Addr
	for _, id := range []string{"0x200000", "0x400000", "0x600000", "0xa00000"} {
		mustCtl(t, a, "alloc", id)
	}

	// A holder maps 0x400000 read-write and keeps its session.
	holder := exec.Command(filepath.Join(binDir, "brickctl"), "--addr", a, "map", "--hold", "--rw", "0x400000")
	stdout, _ := holder.StdoutPipe()
	var holderErr bytes.Buffer
	holder.Stderr = &holderErr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || !strings.HasPrefix(line, "mapped ") {
		t.Fatalf("map --hold: %q %v %s", line, err, holderErr.String())
	}

	var list []sessionJSON
	ctlJSON(t, a, &list, "sessions")
	var held *sessionJSON
	for i := range list {
		if !list[i].Self && len(list[i].Maps) > 0 {
			held = &list[i]
		}
	}
	if len(list) != 2 || held == nil || held.Maps[0].ID != "0x400000" || held.Maps[0].Access != "rw" ||
		!strings.HasPrefix(held.Peer, "127.0.0.1:") || held.Auth != "none" {
		t.Fatalf("sessions = %+v; want brickctl's own and the holder's with 0x400000 rw", list)
	}
	holderID := strconv.FormatUint(held.ID, 10)
	if human := mustCtl(t, a, "sessions"); !strings.Contains(human, "0x400000 rw") || !strings.Contains(human, "2 session(s)") {
		t.Errorf("sessions:\n%s", human)
	}

	steps := []struct {
		args []string
		code int
		out  string // on stdout
		say  string // on stderr
	}{
		{[]string{"free", "0x200000..0x800000"}, 15, "freed 2 block(s) in 0x200000..0x800000", "1 mapped block(s) in the range were left allocated, the first 0x400000"},
		{[]string{"unmap", "0x400000"}, 0, "unmapped 0x400000: revoked 1 map(s)", ""},
		{[]string{"unmap", "0x400000"}, 16, "", "that block is not mapped"},
		{[]string{"unmap", "0x200000"}, 14, "", "not allocated"},
		{[]string{"revoke", holderID}, 0, "revoked 0 map(s) of session " + holderID, ""},
		{[]string{"revoke", "--end", holderID}, 0, "ended session " + holderID, ""},
		{[]string{"revoke", holderID}, 22, "", "no such session"},
		{[]string{"revoke", "0x1"}, 2, "", "not a session ID"},
		{[]string{"free", "0x400000..0x200000"}, 2, "", "FIRST is above LAST"},
		{[]string{"free", "0x200000..0x300000"}, 2, "", "multiples of 2 MiB"},
		{[]string{"free", "0x0..0xfffffffffe00000"}, 0, "freed 2 block(s)", ""},
	}
	for _, s := range steps {
		r := ctl(t, a, s.args...)
		if r.code != s.code || !strings.Contains(r.stdout, s.out) || !strings.Contains(r.stderr, s.say) {
			t.Errorf("brickctl %v: exit %d, stdout %q, stderr %q; want exit %d, %q, %q", s.args, r.code, r.stdout, r.stderr, s.code, s.out, s.say)
		}
	}
	// The ended holder learns it when its session breaks: exit 4.
	err := holder.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Errorf("the ended holder: %v %s; want exit 4", err, holderErr.String())
	}
	if es := listJSON(t, a); len(es) != 0 {
		t.Errorf("after free of the whole range: %v", es)
	}
}
