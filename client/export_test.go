package client

// DropFeature makes c behave as if the brick had not granted feature f in
// its hello: the path an older brick takes.
func DropFeature(c *Client, f uint64) { c.hello.Features &^= f }

// Features are the features the brick granted c in its hello (less those
// dropped with DropFeature).
func Features(c *Client) uint64 { return c.hello.Features }
