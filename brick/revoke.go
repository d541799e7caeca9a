package brick

import (
	"errors"
	"fmt"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/protocol"
)

// Revocation. Unmap, and a session's end, revoke a map's key before the
// map is forgotten. Revoking can wait on the peer: the software RNIC
// finishes a transfer in progress through the key before the key dies, and
// a peer that stopped reading holds that transfer up. So no stripe lock is
// held while a key is revoked, or one slow peer would stall the verbs of
// every block in the stripe:
//
//  1. under the block's stripe, the map is marked revoking. It stays among
//     the block's maps: until step 2 ends the key may still work, so Free
//     still answers EBUSY and a conflicting Map still conflicts;
//  2. with no lock held, the key is revoked. Past revokeBound the session
//     is ended, and closing its queue pair ends whatever the revocation
//     waits for;
//  3. under the stripe again, the map is forgotten and the block's
//     read-write mark cleared if no writer is left.
//
// A Free with FreeUnmap (unmapAndFree) takes the same steps for the
// caller's own map, refusing other sessions' Maps of the block meanwhile,
// and in step 3 frees the block instead of clearing its mark.

// defaultRevokeBound bounds a revocation when sessions never time out.
const defaultRevokeBound = 30 * time.Second

// revokeBound is how long a revocation may wait on the peer before its
// session is ended: the session timeout, the time after which the brick
// presumes a peer that takes nothing from it dead (as sendSlot does).
func (s *Server) revokeBound() time.Duration {
	if s.timeout > 0 {
		return s.timeout
	}
	return defaultRevokeBound
}

// Unmap revokes the session's map of block id that named picks (anyKey,
// or keyed for a keyed Unmap) before returning. A keyed Unmap through a
// handle whose map an administrator revoked, the block mapped again since
// by the same session, gets ErrNotMapped, and the newer map stays.
func (s *Server) Unmap(ss *session, id uint64, named func(*mapping) bool) error {
	m, err := s.startRevoke(ss, id, named)
	if err != nil {
		return err
	}
	return s.finishRevoke(m, s.revoke(m))
}

// anyKey names the session's map of a block whatever its key.
func anyKey(*mapping) bool { return true }

// keyed names the session's map of a block if its handle has rkey.
func keyed(rkey uint32) func(*mapping) bool {
	return func(m *mapping) bool { return m.rkey() == rkey }
}

// unmapAll revokes every map of a session that is ending.
func (s *Server) unmapAll(ss *session) {
	s.mu.Lock()
	ids := make([]uint64, 0, len(ss.maps))
	for id := range ss.maps {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		m, err := s.startRevoke(ss, id, anyKey)
		if err != nil {
			continue // not mapped after all, or already being revoked
		}
		if err := s.finishRevoke(m, s.revoke(m)); err != nil {
			ss.log.Error("revoking map of ended session", "block", fmt.Sprintf("%#x", id), "err", err)
		}
	}
}

// startRevoke marks the session's map of block id revoking (step 1), if
// it is the map named (ErrNotMapped otherwise).
func (s *Server) startRevoke(ss *session, id uint64, named func(*mapping) bool) (*mapping, error) {
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	m, revoking := s.markRevokingLocked(ss, id, named)
	switch {
	case revoking:
		return nil, fmt.Errorf("%w: block %#x is being unmapped", protocol.ErrBusy, id)
	case m == nil:
		if _, err := s.store.Lookup(id); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: block %#x", protocol.ErrNotMapped, id)
	}
	return m, nil
}

// markRevokingLocked marks the session's map of block id revoking, with
// id's stripe lock held. It returns the map, nil if there is none or it is
// not the one named, and whether a revocation of it was already under way.
func (s *Server) markRevokingLocked(ss *session, id uint64, named func(*mapping) bool) (m *mapping, underWay bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := ss.maps[id]
	if !ok || !named(m) {
		return nil, false
	}
	underWay = m.revoking
	m.revoking = true
	return m, underWay
}

// revoke revokes m's key (step 2). No lock is held. Past revokeBound it
// ends m's session, which lets the revocation finish.
func (s *Server) revoke(m *mapping) error {
	bound := s.revokeBound()
	t := time.AfterFunc(bound, func() {
		s.warn(m.ss.log, "revoking a key waits on the peer (it stopped taking data?); ending the session",
			"block", fmt.Sprintf("%#x", m.id), "bound", bound)
		m.ss.endWith(errRevokeStalled)
	})
	defer t.Stop()
	if m.mw != nil {
		return m.mw.Invalidate()
	}
	return m.mr.Deregister()
}

// finishRevoke forgets m once its key is revoked, or, when revoking failed
// (err), once its session is ended (step 3).
func (s *Server) finishRevoke(m *mapping, err error) error {
	if err != nil {
		// The key may still be live. Keys work only on their session's
		// queue pair, so ending it is the revocation of last resort.
		m.ss.log.Error("revocation failed; ending the session so its key dies with it", "block", fmt.Sprintf("%#x", m.id), "err", err)
		m.ss.endWith(fmt.Errorf("brick: revoking the key of block %#x: %w", m.id, err))
	}
	mu := s.stripe(m.id)
	mu.Lock()
	defer mu.Unlock()
	if anyRW := s.forgetLocked(m); m.rw() && !anyRW {
		err = errors.Join(err, s.clearRWLocked(m.id))
	}
	if err != nil {
		return fmt.Errorf("brick: unmap block %#x: %w", m.id, err)
	}
	return nil
}

// forgetLocked forgets revoked map m, with its block's stripe lock held.
// It returns whether a read-write map of the block is left.
func (s *Server) forgetLocked(m *mapping) (anyRW bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(m.ss.maps, m.id)
	close(m.gone)
	rest := s.mu.maps[m.id][:0]
	for _, o := range s.mu.maps[m.id] {
		if o != m {
			rest = append(rest, o)
			anyRW = anyRW || o.rw()
		}
	}
	if len(rest) == 0 {
		s.tiering.touch(m.id) // unmapped: a demotion candidate
		delete(s.mu.maps, m.id)
	} else {
		s.mu.maps[m.id] = rest
	}
	return anyRW
}

// clearRWLocked clears block id's read-write mark once its last writer is
// gone. Lazy: an unclean shutdown before this reaches the disk only makes
// List report the block as unclean, which is the safe side.
func (s *Server) clearRWLocked(id uint64) error {
	if err := s.store.ClearRW(id); err != nil && !errors.Is(err, alloc2m.ErrNotFound) {
		return err
	}
	return nil
}

// unmapAndFree serves a Free with FreeUnmap: the session's own map of
// block id is revoked as Unmap revokes it (no lock held while the key
// dies), then forgotten and the block freed in one stripe critical
// section, with Free's one synced commit: the block's read-write mark goes
// with its record, so Unmap's commit that clears the mark is not needed.
// A map by another session refuses the Free before anything changes, and
// while the key is being revoked no other session may map the block
// (mapping.freeing), so a refusal always leaves the caller's map working.
// Without a map of its own the session gets a plain Free; so does a keyed
// request whose key is not the map's (its handle's map was revoked), which
// a newer map of the session's then refuses with EBUSY.
func (s *Server) unmapAndFree(ss *session, id uint64, named func(*mapping) bool) error {
	m, err := s.startRevokeAlone(ss, id, named)
	switch {
	case err != nil:
		return err
	case m == nil:
		return s.Free(id)
	}
	if err := s.revoke(m); err != nil {
		return s.finishRevoke(m, err) // ends the session; the block stays
	}
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	anyRW := s.forgetLocked(m)
	err = s.freeLocked(id)
	if err != nil && m.rw() && !anyRW {
		// The block stays, its last writer gone: clear the mark as Unmap
		// would.
		err = errors.Join(err, s.clearRWLocked(id))
	}
	return err
}

// startRevokeAlone marks the session's map of block id revoking, as
// startRevoke does, unless another session maps the block too (EBUSY). It
// returns a nil map when the session has none, or not the one named.
func (s *Server) startRevokeAlone(ss *session, id uint64, named func(*mapping) bool) (*mapping, error) {
	mu := s.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.mu.maps[id] {
		if o.ss != ss {
			return nil, fmt.Errorf("%w: block %#x is mapped by another session", protocol.ErrBusy, id)
		}
	}
	m := ss.maps[id]
	switch {
	case m == nil || !named(m):
		return nil, nil
	case m.revoking:
		return nil, fmt.Errorf("%w: block %#x is being unmapped", protocol.ErrBusy, id)
	}
	m.revoking, m.freeing = true, true
	return m, nil
}
