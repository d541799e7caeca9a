package brick

import (
	"errors"

	"github.com/brick-storage/brick/protocol"
)

// SetAuthKey replaces the key sessions must prove (brickd re-reads its key
// file on SIGHUP). Sessions that authenticated keep going; a session
// authenticates against the key current when its proof arrives. A brick
// started without a key cannot be given one, nor can the key be removed:
// whether sessions authenticate is agreed in the hello, so that takes a
// restart.
func (s *Server) SetAuthKey(key []byte) error {
	if s.authKey == nil {
		return errors.New("brick: this brick was started without an auth key; authentication cannot be turned on without a restart")
	}
	if key == nil {
		return errors.New("brick: authentication cannot be turned off without a restart")
	}
	if err := protocol.CheckKey(key); err != nil {
		return err
	}
	k := append([]byte(nil), key...)
	s.rekeyed.Store(&k)
	return nil
}

// currentKey is the key a proof is checked against.
func (s *Server) currentKey() []byte {
	if k := s.rekeyed.Load(); k != nil {
		return *k
	}
	return s.authKey
}
