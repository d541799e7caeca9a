// Package testfs gives tests small file systems that fill up: the disk-full
// faults of pmem images and metadata stores are reproduced on them.
package testfs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/brick-storage/brick/internal/oscall"
)

// Small mounts a tmpfs of size bytes for the test and unmounts it at
// cleanup, or skips the test where mounting is not allowed (it needs root).
func Small(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %d-byte tmpfs (%v: %s); this test needs root", size, err, out)
	}
	t.Cleanup(func() { Unmount(t, dir) })
	return dir
}

// Unmount detaches the mount at dir.
func Unmount(t testing.TB, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
		t.Errorf("umount %s: %v: %s", dir, err, out)
	}
}

// Fill writes a file into dir until its file system is full.
func Fill(t testing.TB, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{0xf1}, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !oscall.NoSpace(err) {
				t.Fatal(err)
			}
			return
		}
	}
}
