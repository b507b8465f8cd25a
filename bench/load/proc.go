package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is 100
// on every mainstream Linux architecture (the standard library cannot ask
// sysconf for it).
const clockTicks = 100

// procMem is one reading of /proc/PID/status, in KiB.
type procMem struct {
	RSS, HWM int64
}

func readProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	var haveRSS, haveHWM bool
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			m.RSS, err = parseKB(line)
			haveRSS = err == nil
		case strings.HasPrefix(line, "VmHWM:"):
			m.HWM, err = parseKB(line)
			haveHWM = err == nil
		}
	}
	if !haveRSS || !haveHWM {
		return m, fmt.Errorf("/proc/%d/status: no VmRSS/VmHWM (zombie or kernel thread?)", pid)
	}
	return m, nil
}

// parseKB parses a status line such as "VmRSS:	   12345 kB".
func parseKB(line string) (int64, error) {
	f := strings.Fields(line)
	if len(f) != 3 || f[2] != "kB" {
		return 0, fmt.Errorf("unexpected status line %q", line)
	}
	return strconv.ParseInt(f[1], 10, 64)
}

// readProcCPU returns the user+system CPU time the process has used so far.
func readProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after the last ')' start with field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat")
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// resetHWM resets the process's peak RSS (VmHWM) to its current RSS, so that
// the peak reported at the end belongs to this run rather than to the
// server's whole life (Linux >= 4.0; needs the right to write the file).
func resetHWM(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// procWatch samples a process's RSS once a second while a run lasts.
type procWatch struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	maxRSS   int64 // KiB, the largest VmRSS sampled
	samples  int
	gone     error // set when the process could not be read any more
	hwmReset error // result of resetHWM at the start of the window
	begun    bool  // beginWindow ran
	cpuStart time.Duration
	cpuErr   error
}

func startProcWatch(pid int) *procWatch {
	w := &procWatch{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.sample()
			}
		}
	}()
	return w
}

func (w *procWatch) sample() {
	m, err := readProcMem(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.gone == nil {
			w.gone = err
		}
		return
	}
	w.samples++
	w.maxRSS = max(w.maxRSS, m.RSS)
}

// beginWindow is called when measurement starts: it resets the peak RSS and
// notes the CPU time used so far. Samples taken before (warm-up) are dropped.
func (w *procWatch) beginWindow() {
	err := resetHWM(w.pid)
	cpu, cerr := readProcCPU(w.pid)
	w.mu.Lock()
	w.hwmReset = err
	w.begun = true
	w.cpuStart, w.cpuErr = cpu, cerr
	w.maxRSS, w.samples = 0, 0
	w.mu.Unlock()
	w.sample()
}

// procReport is what a procWatch found.
type procReport struct {
	PeakKB, EndKB int64
	PeakIsLife    bool          // VmHWM could not be reset: the peak spans the server's life
	CPU           time.Duration // CPU time used in the window; -1 if unknown
	Samples       int
	Gone          error
}

// finish stops the sampler and takes a last reading.
func (w *procWatch) finish() procReport {
	close(w.stop)
	<-w.done
	w.sample()
	r := procReport{CPU: -1}
	m, err := readProcMem(w.pid)
	cpu, cerr := readProcCPU(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	r.Samples = w.samples
	r.Gone = w.gone
	if err == nil {
		r.EndKB = m.RSS
		r.PeakKB = max(m.HWM, w.maxRSS)
		r.PeakIsLife = !w.begun || w.hwmReset != nil
	} else {
		r.PeakKB = w.maxRSS
	}
	if w.begun && cerr == nil && w.cpuErr == nil {
		r.CPU = cpu - w.cpuStart
	}
	return r
}
