package brick

// LogEveryWarning lifts the rate limit of warnings about peers, for tests
// that wait for each of several lines of one kind. Call it before Serve.
func (s *Server) LogEveryWarning() { s.warns.every = 0 }
