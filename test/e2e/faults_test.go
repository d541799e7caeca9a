package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brick-storage/brick/internal/testfs"
)

// The tests here pin the faults of issue 11: what brickd does when one
// half of a brick (the pmem image, the metadata store) is missing, damaged
// or out of date, or when a disk under it is full or read-only.

// refused runs brickd, which must exit with code 1 within timeout, having
// printed (as its last stderr line) one sentence containing say. It
// returns stderr.
func refused(t *testing.T, timeout time.Duration, say string, args ...string) string {
	t.Helper()
	start := time.Now()
	stderr := brickdRefuses(t, timeout, args...)
	last := tail(stderr, 1)
	if !strings.HasPrefix(last, "brickd: ") || !strings.Contains(last, say) || !strings.HasSuffix(strings.TrimSpace(last), ".") {
		t.Fatalf("brickd refused after %v with %q, want one sentence saying %q", time.Since(start).Round(time.Millisecond), last, say)
	}
	t.Logf("refused after %v: %s", time.Since(start).Round(time.Millisecond), last)
	return stderr
}

// usedBrick runs a brick in dir, puts a block, and stops it with sig. It
// returns the block's content and a copy of the metadata directory taken
// while brickd ran (after the put), as a backup would.
func usedBrick(t *testing.T, dir string, sig syscall.Signal) (data []byte, backup string) {
	t.Helper()
	d := startDaemon(t, brickdArgs(dir)...)
	mustCtl(t, d.Addr, "alloc", "0x200000")
	src, data := randomFile(t, t.TempDir(), "block", 2*mib)
	mustCtl(t, d.Addr, "put", "0x200000", src)
	backup = filepath.Join(t.TempDir(), "meta-backup")
	if err := os.CopyFS(backup, os.DirFS(filepath.Join(dir, "meta"))); err != nil {
		t.Fatal(err)
	}
	d.stop(sig)
	return data, backup
}

// checkBlock starts brickd on dir and checks that block 0x200000 holds data.
func checkBlock(t *testing.T, dir string, data []byte) {
	t.Helper()
	d := startDaemon(t, brickdArgs(dir)...)
	if got := get(t, d.Addr, "0x200000"); !bytes.Equal(got, data) {
		t.Fatal("the block's data changed")
	}
	if strings.Contains(d.log.String(), "new metadata store") {
		t.Fatalf("brickd started a new metadata store:\n%s", d.log)
	}
	d.term()
}

// lastWAL returns the newest write-ahead log in the metadata directory.
func lastWAL(t *testing.T, meta string) string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(meta, "*.log"))
	if len(logs) == 0 {
		t.Fatalf("no write-ahead log in %s", meta)
	}
	return logs[len(logs)-1] // zero-padded numbers sort
}

// TestHalfMissing pins issue 11 fault 4: a missing, emptied, damaged or
// rolled-back metadata store was taken for a new one (brickd logged "new
// metadata store" over an image holding data and listed nothing), a WAL
// damaged mid-file silently lost acknowledged records, and a zeroed
// superblock or a deleted image was rewritten or recreated before brickd
// refused. Now each is refused with a sentence saying what to do, before
// anything is written: putting the original files back brings the brick
// back with its data.
func TestHalfMissing(t *testing.T) {
	tests := []struct {
		name string
		sig  syscall.Signal // how the used brick stopped
		// break_ damages the brick in dir and returns how to undo it.
		break_ func(t *testing.T, dir, backup string) (undo func())
		say    string
	}{
		{"metadata directory deleted", syscall.SIGTERM, func(t *testing.T, dir, _ string) func() {
			return moveAside(t, filepath.Join(dir, "meta"))
		}, "has no metadata store; restore the metadata directory"},
		{"write-ahead log deleted after a crash", syscall.SIGKILL, func(t *testing.T, dir, _ string) func() {
			return moveAside(t, lastWAL(t, filepath.Join(dir, "meta")))
		}, "from different points in time"},
		{"metadata restored from a copy taken while brickd ran", syscall.SIGTERM, func(t *testing.T, dir, backup string) func() {
			undo := moveAside(t, filepath.Join(dir, "meta"))
			if err := os.Rename(backup, filepath.Join(dir, "meta")); err != nil {
				t.Fatal(err)
			}
			return func() { os.RemoveAll(filepath.Join(dir, "meta")); undo() }
		}, "from different points in time"},
		{"write-ahead log damaged mid-file after a crash", syscall.SIGKILL, func(t *testing.T, dir, _ string) func() {
			// A byte of the first record: the synced records after it (the
			// alloc, the read-write mark) prove it was not a torn tail. The
			// middle of the file could fall in the last record, whose
			// damage is indistinguishable from a crash mid-write.
			return damage(t, lastWAL(t, filepath.Join(dir, "meta")), func(b []byte) { b[24] ^= 0xff })
		}, "is damaged"},
		{"superblock zeroed", syscall.SIGTERM, func(t *testing.T, dir, _ string) func() {
			return damage(t, filepath.Join(dir, "pmem.img"), func(b []byte) { clear(b[:4096]) })
		}, "has no superblock"},
		{"image deleted", syscall.SIGTERM, func(t *testing.T, dir, _ string) func() {
			return moveAside(t, filepath.Join(dir, "pmem.img"))
		}, "does not exist, but the metadata store"},
		{"an older brickd's image without its metadata", syscall.SIGTERM, func(t *testing.T, dir, _ string) func() {
			undoImage := damage(t, filepath.Join(dir, "pmem.img"), toVersion1)
			undoMeta := moveAside(t, filepath.Join(dir, "meta"))
			return func() { undoMeta(); undoImage() }
		}, "made by an older brickd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data, backup := usedBrick(t, dir, tt.sig)
			undo := tt.break_(t, dir, backup)
			before := snapshotDir(t, dir)
			stderr := refused(t, time.Minute, tt.say, brickdArgs(dir)...)
			if strings.Contains(stderr, "new metadata store") {
				t.Fatalf("brickd started a new metadata store before refusing:\n%s", stderr)
			}
			if after := snapshotDir(t, dir); after != before {
				t.Fatalf("the refusal changed the brick's files:\nbefore %s\nafter  %s", before, after)
			}
			undo()
			checkBlock(t, dir, data)
		})
	}
}

// moveAside renames path out of the way and returns how to put it back.
func moveAside(t *testing.T, path string) func() {
	t.Helper()
	aside := path + ".aside"
	if err := os.Rename(path, aside); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Rename(aside, path); err != nil {
			t.Fatal(err)
		}
	}
}

// damage applies f to the file at path and returns how to undo it.
func damage(t *testing.T, path string, f func([]byte)) func() {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Clone(orig)
	f(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshotDir describes every file under dir (name, size, a hash of the
// first 1 MiB and of the superblock area), except the LOCK file.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() || de.Name() == "LOCK" {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		head := make([]byte, mib)
		n, _ := f.Read(head)
		fi, _ := f.Stat()
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s:%d:%08x ", rel, fi.Size(), crc32.ChecksumIEEE(head[:n]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// bindReadOnly makes dir visible read-only at a new path, or skips.
func bindReadOnly(t *testing.T, dir string) string {
	t.Helper()
	ro := t.TempDir()
	if out, err := exec.Command("mount", "--bind", dir, ro).CombinedOutput(); err != nil {
		t.Skipf("cannot bind-mount (%v: %s); this test needs root", err, out)
	}
	t.Cleanup(func() { testfs.Unmount(t, ro) })
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", ro).CombinedOutput(); err != nil {
		t.Skipf("cannot remount read-only (%v: %s)", err, out)
	}
	return ro
}

// sparseOldImage copies the image at src to dst as an older brickd left
// images: sparse, with a version-1 superblock.
func sparseOldImage(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "--sparse=always", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	f, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hdr := make([]byte, 4096)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
	toVersion1(hdr)
	if _, err := f.WriteAt(hdr, 0); err != nil {
		t.Fatal(err)
	}
}

// toVersion1 rewrites a superblock as an older brickd wrote it: version 1,
// checksum resealed, nothing past the header.
func toVersion1(img []byte) {
	binary.LittleEndian.PutUint32(img[8:], 1)
	binary.LittleEndian.PutUint32(img[40:], crc32.Checksum(img[:40], crc32.MakeTable(crc32.Castagnoli)))
	clear(img[44:4096])
}

// TestOldImage: an image from before the superblock recorded its metadata
// (version 1) starts with its metadata and is upgraded to version 2; from
// then on, losing the metadata is refused.
func TestOldImage(t *testing.T) {
	dir := t.TempDir()
	data, _ := usedBrick(t, dir, syscall.SIGTERM)
	img := filepath.Join(dir, "pmem.img")
	damage(t, img, toVersion1)
	checkBlock(t, dir, data)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != 2 {
		t.Fatalf("superblock version %d after a start, want 2", v)
	}
	moveAside(t, filepath.Join(dir, "meta"))
	refused(t, time.Minute, "has no metadata store", brickdArgs(dir)...)
}

// TestImageDiskFull pins issue 11 fault 3: on a file system that could not
// hold the sparse image, brickd died of SIGBUS at the first store into a
// page never written before (a client's RDMA write, a frame's zeroing),
// and again at the next start. Now the image is allocated whole: a new one
// that does not fit, or an old sparse one that cannot be filled, is refused
// with a sentence, and one that fits survives its file system filling up.
func TestImageDiskFull(t *testing.T) {
	args := func(img, size string) []string {
		return []string{"--pmem", img, "--pmem-size", size, "--meta", filepath.Join(t.TempDir(), "meta"),
			"--listen", "tcp://127.0.0.1:0", "--metrics", ""}
	}
	t.Run("new image too large", func(t *testing.T) {
		img := filepath.Join(testfs.Small(t, 16<<20), "pmem.img")
		refused(t, time.Minute, "free space there", args(img, "64MiB")...)
		if _, err := os.Stat(img); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused image was left behind (%v)", err)
		}
	})
	t.Run("old sparse image too large", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "pmem.img")
		d := startDaemon(t, args(src, "64MiB")...)
		d.stop(syscall.SIGTERM)
		img := filepath.Join(testfs.Small(t, 16<<20), "pmem.img")
		sparseOldImage(t, src, img)
		before, _ := os.ReadFile(img)
		refused(t, time.Minute, "is sparse", args(img, "64MiB")[:2]...)
		if after, _ := os.ReadFile(img); !bytes.Equal(after, before) {
			t.Fatal("the refused image changed")
		}
	})
	t.Run("image fits, then the disk fills", func(t *testing.T) {
		fs := testfs.Small(t, 16<<20)
		d := startDaemon(t, args(filepath.Join(fs, "pmem.img"), "8MiB")...)
		testfs.Fill(t, fs)
		src, data := randomFile(t, t.TempDir(), "blocks", 3*2*mib)
		mustCtl(t, d.Addr, "put", "--alloc", "0x200000", src)
		if got := get(t, d.Addr, "--length", fmt.Sprint(len(data)), "0x200000"); !bytes.Equal(got, data) {
			t.Fatal("the blocks read back differ")
		}
		d.term()
	})
}

// TestMetaDiskFull pins issue 11 fault 5: with the metadata file system
// full, brickd hung at start in Pebble's endless retries of a flush,
// never listened, burnt a core and logged over a thousand error lines a
// second. Now it refuses at once with a sentence, logging next to nothing.
func TestMetaDiskFull(t *testing.T) {
	fs := testfs.Small(t, 16<<20)
	dir := t.TempDir()
	args := []string{"--pmem", filepath.Join(dir, "pmem.img"), "--pmem-size", "64MiB", "--meta", filepath.Join(fs, "meta"),
		"--listen", "tcp://127.0.0.1:0", "--metrics", ""}
	d := startDaemon(t, args...)
	for i := 1; i <= 20; i++ {
		mustCtl(t, d.Addr, "alloc", fmt.Sprintf("%#x", i*2*mib))
	}
	d.kill() // the log holds the allocations: the next open must write them out
	testfs.Fill(t, fs)
	stderr := refused(t, 30*time.Second, "free space there", args...)
	if n := strings.Count(stderr, "\n"); n > 5 {
		t.Fatalf("brickd logged %d lines refusing:\n%s", n, tail(stderr, 10))
	}
}

// TestListReadOnlyMedia pins issue 11 fault 7c: `brickctl list --meta` on
// read-only media failed, because opening the store created its lock file.
// It now reads the store with no write access.
func TestListReadOnlyMedia(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, brickdArgs(dir)...)
	mustCtl(t, d.Addr, "alloc", "0x200000")
	_ = holdMap(t, d.Addr, "--rw", "0x200000")
	d.kill()
	ro := bindReadOnly(t, filepath.Join(dir, "meta"))
	before := snapshotDir(t, filepath.Join(dir, "meta"))
	want := []extent{{First: "0x200000", Last: "0x200000", Blocks: 1, State: "unclean"}}
	if got := listJSON(t, "tcp://127.0.0.1:1", "--meta", ro); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list --meta on read-only media = %v, want %v", got, want)
	}
	if after := snapshotDir(t, filepath.Join(dir, "meta")); after != before {
		t.Fatalf("list --meta changed the store:\nbefore %s\nafter  %s", before, after)
	}
}
