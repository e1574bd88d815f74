package sidecar

// Stopping reports whether the server's stop has begun (tests wait for it
// instead of sleeping).
func (s *Server) Stopping() bool { return s.life.Err() != nil }
