package main

import (
	"fmt"
	"time"
)

// authLimits are brick.Config's MaxUnauthenticated and AuthTimeout from
// their flags, refused when they make no sense.
func authLimits(c *call) (maxUnauth int, timeout time.Duration, err error) {
	if maxUnauth = c.Int("max-unauthenticated"); maxUnauth < 1 {
		return 0, 0, fmt.Errorf("--max-unauthenticated must be at least 1 (got %d)", maxUnauth)
	}
	if timeout = c.Duration("auth-timeout"); timeout <= 0 {
		return 0, 0, fmt.Errorf("--auth-timeout must be positive (got %v): a session that never authenticates must not stay", timeout)
	}
	return maxUnauth, timeout, nil
}
