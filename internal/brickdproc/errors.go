package brickdproc

import "errors"

// ErrNoExit is Stop's error when brickd outlived the signal's grace time.
var ErrNoExit = errors.New("brick: brickd did not exit")
