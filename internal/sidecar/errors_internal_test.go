package sidecar

import (
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Storage that cannot be reached is Unavailable, as a storage error
// answer is: the SDKs may retry it.
func TestUnreachableStorageIsUnavailable(t *testing.T) {
	_, err := net.Dial("tcp", "127.0.0.1:1") // nothing listens on port 1
	if err == nil {
		t.Skip("something listens on 127.0.0.1:1")
	}
	got := grpcError(fmt.Errorf("read HubPartitions: %w", err))
	if status.Code(got) != codes.Unavailable {
		t.Errorf("%v: %v", err, got)
	}
}
