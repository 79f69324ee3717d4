// Package browsertest runs the console's Playwright scripts (console/test)
// in Debian's Chromium for the tests that drive a real browser.
package browsertest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Chromium is Debian's package; `.ci/run` installs it.
const Chromium = "/usr/bin/chromium"

// Ready says what is missing for a browser test: Chromium, or the
// console's packages (`make console` installs them from the lockfile).
func Ready(consoleDir string) error {
	if _, err := os.Stat(Chromium); err != nil {
		return fmt.Errorf("chromium is required for the browser tests: %w (apt-get install -y chromium; .ci/run does)", err)
	}
	if _, err := os.Stat(filepath.Join(consoleDir, "node_modules/playwright-core")); err != nil {
		return fmt.Errorf("the console's packages are not installed: %w (make console installs them from the lockfile)", err)
	}
	return nil
}

// Run runs `node script` in consoleDir with env added, writing its output to
// out, and ends it by limit at the latest. Node and the Chromium it starts
// are one process group, killed as one at the limit and after the script:
// a browser left behind would hold the output pipe open, and waiting for
// the script would never return.
func Run(ctx context.Context, consoleDir, script string, env []string, out io.Writer, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = consoleDir
	cmd.Env = append(append(os.Environ(), "OCX_CHROMIUM="+Chromium), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("node %s: stopped after %s: %w", script, limit, err)
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", script, err)
	}
	return nil
}
