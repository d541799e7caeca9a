package alloc2m

// Ready says whether the store takes changes: nil, or an error wrapping
// ErrClosed, ErrReadOnly or ErrFailed. brickd's /readyz reports it.
func (s *Store) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writableLocked()
}
