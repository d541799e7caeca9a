package verbs

import "fmt"

// windowRights are the rights a memory window may grant, and the
// AccessStable promise.
const windowRights = AccessRemoteRead | AccessRemoteWrite | AccessRemoteAtomic | AccessFlushPersistent | AccessStable

// CheckWindowRights applies the InfiniBand rules for binding a type-2
// memory window (ibv_bind_mw), which every provider follows: the window,
// not the region, carries the remote rights, so a region that exists only
// to have windows bound over it needs no remote right of its own (and its
// key, were it guessed, opens nothing). A window that grants remote write
// or atomic needs the region's local write; a flush right must be the
// region's too. The region must allow AccessMWBind (checked by the caller
// with the region in hand).
func CheckWindowRights(window, region Access) error {
	if window&^windowRights != 0 {
		return fmt.Errorf("%w: window access %#x is not only remote rights", ErrInvalid, window)
	}
	if window&AccessStable != 0 && window&(AccessRemoteWrite|AccessRemoteAtomic) != 0 {
		return fmt.Errorf("%w: a window that grants writes cannot promise its memory is stable", ErrInvalid)
	}
	if window&(AccessRemoteWrite|AccessRemoteAtomic) != 0 && region&AccessLocalWrite == 0 {
		return fmt.Errorf("%w: a writable window needs a region with local write (region access %#x)", ErrInvalid, region)
	}
	if window&AccessFlushPersistent != 0 && region&AccessFlushPersistent == 0 {
		return fmt.Errorf("%w: a flush right needs a region with it (region access %#x)", ErrInvalid, region)
	}
	return nil
}
