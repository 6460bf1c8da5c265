//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// VegetaVersion is the version of vegeta that the harness installs with
// go install.
const VegetaVersion = "v12.13.0"

// tool is a program the harness runs, and the Debian package it comes in.
type tool struct {
	name    string // program name, as in the tables
	program string // file name looked up in PATH
	pkg     string // Debian package, empty for vegeta
}

// The tools beside Barrage. nginx is the target of every figure.
var (
	toolNginx  = tool{name: "nginx", program: "nginx", pkg: "nginx-light"}
	toolWrk    = tool{name: "wrk", program: "wrk", pkg: "wrk"}
	toolHey    = tool{name: "hey", program: "hey", pkg: "hey"}
	toolLocust = tool{name: "Locust", program: "locust", pkg: "python3-locust"}
	toolVegeta = tool{name: "vegeta", program: "vegeta"}
)

// toolbox holds the paths of the tools found or installed, and the
// reason each missing one is missing.
type toolbox struct {
	paths   map[string]string // by program name
	missing map[string]string // by program name: the reason it is missing
}

// findTools looks for the tools in PATH, and vegeta also in cacheDir.
// With install set, it installs the missing Debian packages with apt-get
// (through sudo when not root) and vegeta with go install into cacheDir.
// A tool that cannot be installed is recorded as missing, not as an error.
func findTools(ctx context.Context, log io.Writer, cacheDir string, install bool, tools ...tool) *toolbox {
	tb := &toolbox{paths: make(map[string]string), missing: make(map[string]string)}
	vegetaDir := filepath.Join(cacheDir, "vegeta-"+VegetaVersion)
	var packages []string
	for _, t := range tools {
		if path := lookTool(t, vegetaDir); path != "" {
			tb.paths[t.program] = path
			continue
		}
		if t.pkg != "" {
			packages = append(packages, t.pkg)
		}
	}
	if install && len(packages) > 0 {
		if err := aptInstall(ctx, log, packages); err != nil {
			fmt.Fprintf(log, "bench: could not install %s: %v\n", strings.Join(packages, ", "), err)
		}
	}
	for _, t := range tools {
		if tb.paths[t.program] != "" {
			continue
		}
		if t == toolVegeta && install {
			if err := goInstallVegeta(ctx, log, vegetaDir); err != nil {
				tb.missing[t.program] = err.Error()
				continue
			}
		}
		if path := lookTool(t, vegetaDir); path != "" {
			tb.paths[t.program] = path
			continue
		}
		switch {
		case t.pkg != "" && !install:
			tb.missing[t.program] = fmt.Sprintf("%s is not installed (Debian package %s; the harness installs it without -short)", t.program, t.pkg)
		case t.pkg != "":
			tb.missing[t.program] = fmt.Sprintf("%s is not installed and apt-get could not install %s", t.program, t.pkg)
		default:
			tb.missing[t.program] = fmt.Sprintf("vegeta is not in PATH nor in %s (the harness installs it without -short)", vegetaDir)
		}
	}
	return tb
}

// path returns the path of t, or "" when it is missing.
func (tb *toolbox) path(t tool) string { return tb.paths[t.program] }

// lookTool returns the path of t's program, or "".
func lookTool(t tool, vegetaDir string) string {
	if t == toolVegeta {
		candidate := filepath.Join(vegetaDir, "vegeta")
		if _, err := os.Stat(candidate); err == nil {
			return candidate
		}
	}
	if path, err := exec.LookPath(t.program); err == nil {
		return path
	}
	// nginx lives in /usr/sbin, which is not in every user's PATH.
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		candidate := filepath.Join(dir, t.program)
		if _, err := os.Stat(candidate); err == nil {
			return candidate
		}
	}
	return ""
}

// aptInstall installs Debian packages, updating the package lists first
// when the first attempt fails, as it does on a machine whose lists are
// missing or old.
func aptInstall(ctx context.Context, log io.Writer, packages []string) error {
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("apt-get is missing; install %s with the system's package manager", strings.Join(packages, " "))
	}
	var sudo []string
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return fmt.Errorf("installing needs root and sudo is missing; run apt-get install %s as root", strings.Join(packages, " "))
		}
		sudo = []string{"sudo"}
	}
	fmt.Fprintf(log, "bench: installing %s with apt-get\n", strings.Join(packages, " "))
	install := append(append(sudo, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq"), packages...)
	if runLogged(ctx, log, install...) == nil {
		return nil
	}
	if err := runLogged(ctx, log, append(sudo, "apt-get", "update", "-qq")...); err != nil {
		return err
	}
	return runLogged(ctx, log, install...)
}

// goInstallVegeta builds vegeta at VegetaVersion into dir.
func goInstallVegeta(ctx context.Context, log io.Writer, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	fmt.Fprintf(log, "bench: installing vegeta %s into %s\n", VegetaVersion, dir)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/tsenart/vegeta/v12@"+VegetaVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go install github.com/tsenart/vegeta/v12@%s: %w", VegetaVersion, err)
	}
	return nil
}

// runLogged runs args with their output going to log.
func runLogged(ctx context.Context, log io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// versionOf returns the installed version of a Debian package from
// dpkg-query, such as 4.1.0-3+b2, or "" when it is not installed.
func versionOf(ctx context.Context, pkg string) string {
	out, err := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
