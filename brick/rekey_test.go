package brick_test

import (
	"errors"
	"testing"

	"github.com/brick-storage/brick/client"
)

// TestSetAuthKey: a new key replaces the old one for new sessions, and a
// session that authenticated under the old key keeps working.
func TestSetAuthKey(t *testing.T) {
	e := newEnv(t, envOpts{authKey: testKey})
	old, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()

	rotated := []byte("the rotated key, also 32 bytes..")
	if err := e.srv.SetAuthKey(rotated); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: testKey}); !errors.Is(err, client.ErrPermission) {
		t.Fatalf("dial with the replaced key: %v, want a permission error", err)
	}
	c, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: rotated})
	if err != nil {
		t.Fatalf("dial with the new key: %v", err)
	}
	c.Close()
	if err := old.Alloc(e.ctx, 0); err != nil {
		t.Fatalf("a session authenticated before the change: %v", err)
	}

	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"remove the key", nil},
		{"a key too short", []byte("short")},
	} {
		if err := e.srv.SetAuthKey(tc.key); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	keyless := newEnv(t, envOpts{})
	if err := keyless.srv.SetAuthKey(rotated); err == nil {
		t.Error("a brick started without a key took one")
	}
}
