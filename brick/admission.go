package brick

import (
	"fmt"

	"github.com/brick-storage/brick/protocol"
)

// Session admission: how many sessions the brick serves, and how many may
// still be proving the key.

// addSession counts a new session: against MaxSessions at once without a
// key, else against the quota of sessions still to authenticate, closing
// the oldest of those when the quota is full.
func (s *Server) addSession(ss *session) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return fmt.Errorf("%w: the brick is shutting down", protocol.ErrLimit)
	}
	if s.mu.ready >= s.maxSess {
		s.mu.Unlock()
		return errSessionLimit(s.maxSess)
	}
	s.mu.sessions[ss.id] = ss
	if s.authKey == nil {
		s.mu.ready++
		ss.admitted = true
		s.mu.Unlock()
		return nil
	}
	var victim *session
	if len(s.mu.pending) >= s.maxPending {
		for _, p := range s.mu.pending { // IDs grow: the smallest is the oldest
			if victim == nil || p.id < victim.id {
				victim = p
			}
		}
		delete(s.mu.pending, victim.id)
		victim.cause.CompareAndSwap(nil, &errEvicted) // prepare refuses it if it has no QP yet
		if victim.qp == nil {
			victim = nil
		}
	}
	s.mu.pending[ss.id] = ss
	s.mu.Unlock()
	if victim != nil {
		victim.qp.Close()
	}
	return nil
}

// admit counts an authenticated session against MaxSessions.
func (s *Server) admit(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := ss.cause.Load(); c != nil {
		return *c // evicted meanwhile: its queue pair is closing
	}
	if s.mu.ready >= s.maxSess {
		return errSessionLimit(s.maxSess)
	}
	delete(s.mu.pending, ss.id)
	s.mu.ready++
	ss.admitted = true
	return nil
}

func errSessionLimit(n int) error {
	return fmt.Errorf("%w: %d sessions already (the brick's session limit)", protocol.ErrLimit, n)
}

func (s *Server) removeSession(ss *session) {
	s.mu.Lock()
	delete(s.mu.sessions, ss.id)
	delete(s.mu.pending, ss.id)
	if ss.admitted {
		s.mu.ready--
	}
	s.mu.Unlock()
}
