package kernel

// DeleteNS deletes the namespace full (a full name), whoever made it:
// `ip netns del`, which destroys the devices, routes and sockets inside.
func (n *Net) DeleteNS(full string) error { return n.run("ip", "netns", "del", full) }
