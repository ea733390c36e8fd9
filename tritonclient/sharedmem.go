package tritonclient

import (
	"context"
	"sort"

	pb "github.com/batonhq/baton/tritonclient/inferencepb"
)

// SharedMemoryRegion is a system (POSIX) shared-memory region registered
// with Triton.
type SharedMemoryRegion struct {
	// Name is how requests refer to the region.
	Name string
	// Key is the shm_open name, e.g. "/baton_in0".
	Key string
	// Offset and ByteSize delimit the registered part of the region.
	Offset, ByteSize uint64
}

// RegisterSystemSharedMemory registers a region with the server.
func (c *Client) RegisterSystemSharedMemory(ctx context.Context, r SharedMemoryRegion) error {
	_, err := c.rpc.SystemSharedMemoryRegister(ctx, &pb.SystemSharedMemoryRegisterRequest{Name: r.Name, Key: r.Key, Offset: r.Offset, ByteSize: r.ByteSize})
	return c.wrapErr(ctx, "SystemSharedMemoryRegister", "", err)
}

// UnregisterSystemSharedMemory unregisters a region; name "" unregisters all.
func (c *Client) UnregisterSystemSharedMemory(ctx context.Context, name string) error {
	_, err := c.rpc.SystemSharedMemoryUnregister(ctx, &pb.SystemSharedMemoryUnregisterRequest{Name: name})
	return c.wrapErr(ctx, "SystemSharedMemoryUnregister", "", err)
}

// SystemSharedMemoryStatus lists registered regions (name "" = all), sorted
// by name.
func (c *Client) SystemSharedMemoryStatus(ctx context.Context, name string) ([]SharedMemoryRegion, error) {
	resp, err := c.rpc.SystemSharedMemoryStatus(ctx, &pb.SystemSharedMemoryStatusRequest{Name: name})
	if err != nil {
		return nil, c.wrapErr(ctx, "SystemSharedMemoryStatus", "", err)
	}
	out := make([]SharedMemoryRegion, 0, len(resp.GetRegions()))
	for _, r := range resp.GetRegions() {
		out = append(out, SharedMemoryRegion{Name: r.GetName(), Key: r.GetKey(), Offset: r.GetOffset(), ByteSize: r.GetByteSize()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
