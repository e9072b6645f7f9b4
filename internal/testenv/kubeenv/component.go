package kubeenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// component is one binary of the control plane: how it is run, kept so that a
// fault test can kill it and run it again exactly as it was (same flags, ports,
// certificates and data), and its current process.
type component struct {
	name string
	log  string // its output; every run appends to it
	path string
	args []string
	env  []string
	dir  string

	mu     sync.Mutex
	proc   *process
	killed bool // killed on purpose and not run since: its exit is no failure
}

// process is one run of a component.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // why it exited; read after done
}

// start runs the component. The caller makes sure it is not running.
func (p *component) start() error {
	logFile, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// The child has its own copy of the descriptor.
	defer logFile.Close()
	cmd := exec.Command(p.path, p.args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own group, so that Stop kills whatever it forks too, and a
		// Ctrl-C in a terminal reaches only the Go process, which stops
		// the cluster in order.
		Setpgid: true,
		// A test binary that panics or is killed never calls Stop; the
		// kernel then kills the components.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := startFromLockedThread(cmd); err != nil {
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	proc := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		proc.err = cmd.Wait()
		close(proc.done)
	}()
	p.mu.Lock()
	p.proc, p.killed = proc, false
	p.mu.Unlock()
	return nil
}

func (p *component) current() *process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proc
}

// signal sends sig to the component's process group. A group that is gone
// already is not an error: there is nothing left to signal.
func (p *component) signal(sig syscall.Signal) error {
	proc := p.current()
	// A reaped process's pid may be another's by now.
	if proc == nil || !alive(proc) {
		return nil
	}
	if err := syscall.Kill(-proc.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%v to %s: %w", sig, p.name, err)
	}
	return nil
}

// kill ends the component with SIGKILL, which also ends a stopped (paused)
// process, and returns once it is reaped, so that its ports are free.
func (p *component) kill() error {
	err := p.signal(syscall.SIGKILL)
	if proc := p.current(); proc != nil {
		<-proc.done
	}
	return err
}

// killOnPurpose is kill for a fault test: the exit is then no failure of the
// cluster until the component runs again.
func (p *component) killOnPurpose() error {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	return p.kill()
}

// exited says why the component's process ended, if it ended on its own.
func (p *component) exited() error {
	p.mu.Lock()
	proc, killed := p.proc, p.killed
	p.mu.Unlock()
	if proc == nil || killed || alive(proc) {
		return nil
	}
	return fmt.Errorf("%s exited (%v)", p.name, proc.err)
}

// running reports whether the component's process is alive (paused counts).
func (p *component) running() bool {
	proc := p.current()
	return proc != nil && alive(proc)
}

func alive(proc *process) bool {
	select {
	case <-proc.done:
		return false
	default:
		return true
	}
}

// Pdeathsig fires when the OS thread that forked the child ends, not the
// process, and the Go runtime may end threads. So every child is forked by
// one goroutine locked to a thread that lives as long as the process.
var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnReq)
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

func startFromLockedThread(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}

// cpuSeconds is the CPU time (user and system) the component's running process and its
// reaped children have used; 0 when it is not running.
func (p *component) cpuSeconds() (float64, error) {
	p.mu.Lock()
	proc := p.proc
	p.mu.Unlock()
	if proc == nil || proc.cmd.Process == nil {
		return 0, nil
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", proc.cmd.Process.Pid))
	if err != nil {
		return 0, nil // it exited meanwhile
	}
	// Fields after the command name, which is in parentheses and may hold spaces:
	// utime, stime, cutime and cstime are the 14th to 17th of the whole line.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", proc.cmd.Process.Pid)
	}
	var ticks int64
	for _, f := range fields[11:15] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", proc.cmd.Process.Pid, err)
		}
		ticks += n
	}
	return float64(ticks) / clockTicks, nil
}

// clockTicks is the unit of /proc/<pid>/stat's times: USER_HZ, 100 on every Linux
// architecture Go runs on.
const clockTicks = 100
