//go:build linux

package placement

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPUTime is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID),
// so a decision's cost can be told from time the thread spent descheduled.
func threadCPUTime() (time.Duration, bool) {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
