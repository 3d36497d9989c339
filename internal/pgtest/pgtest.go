//go:build unix

// Package pgtest starts a real PostgreSQL server (Debian's, from /usr/lib/postgresql/*/bin)
// for the tests of one package: once, on the first test that asks, in a temporary data
// folder, listening on a free port of 127.0.0.1 and a private unix socket folder; it is
// stopped and removed when the package's tests end. Each test gets a database of its own.
//
// A package that uses it wraps its testing.M:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Wrap(m).Run()) }
//
// Where PostgreSQL is not installed the tests that ask skip with a one-line reason, or fail
// under SHAKEDOWN_REQUIRE_ALL=1 (package internal/testenv).
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// User is the database superuser the server is initialised with (trust authentication).
const User = "shakedown"

// Server is a running PostgreSQL server.
type Server struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
	n    atomic.Int64
}

var (
	mu      sync.Mutex
	server  *Server
	failure string // why the server could not start, once it could not
)

// testingM is what testing.M does for Wrap.
type testingM interface{ Run() int }

type wrapped struct{ m testingM }

// Wrap returns m with a Run that stops the package's server after the tests.
func Wrap(m testingM) interface{ Run() int } { return wrapped{m} }

func (w wrapped) Run() int {
	code := w.m.Run()
	Stop()
	return code
}

// Stop stops the package's server, if one was started, and removes its folder.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if server != nil {
		server.stop()
		server = nil
	}
}

// Start returns the package's server, starting it on the first call. It skips the test when
// PostgreSQL is not installed (fails under SHAKEDOWN_REQUIRE_ALL=1), and fails it when the
// server does not start.
func Start(t testing.TB) *Server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if server != nil {
		return server
	}
	if failure != "" {
		t.Fatal(failure)
	}
	bin := binDir()
	testenv.Need(t, bin != "", "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")
	s, err := start(t, bin)
	if err != nil {
		failure = "start PostgreSQL: " + err.Error()
		t.Fatal(failure)
	}
	server = s
	return s
}

// DB creates a new, empty database on the package's server and returns its URL.
func DB(t testing.TB) string {
	t.Helper()
	url, err := Start(t).NewDB()
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// NewDB creates a new, empty database on the server and returns its URL.
func (s *Server) NewDB() (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.n.Add(1))
	admin, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// Installed reports whether PostgreSQL's server programs are on this machine.
func Installed() bool { return binDir() != "" }

// URL is the connection URL of database db on the server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", User, s.Port, db)
}

func binDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if fi, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil && !fi.IsDir() {
			return dirs[i]
		}
	}
	return ""
}

// start initialises a cluster in a new folder and starts the server, as the postgres (or
// nobody) user when running as root: PostgreSQL refuses to run as root.
func start(t testing.TB, bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, done: make(chan struct{}), log: filepath.Join(dir, "postgres.log")}
	cred, err := runAs()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		for _, p := range []string{dir, sock} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				os.RemoveAll(dir)
				return nil, err
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", User, "--auth=trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	s.Port = testenv.Ports(t, 1)[0]
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", sock, "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	logf.Close()
	go func() { s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for !s.ready() {
		select {
		case <-s.done:
			b, _ := os.ReadFile(s.log)
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(s.log)
			s.stop()
			return nil, fmt.Errorf("not ready within 30s: %s", b)
		}
		time.Sleep(20 * time.Millisecond) // polling the server's readiness with a deadline
	}
	return s, nil
}

func (s *Server) ready() bool {
	db, err := sql.Open("pgx", s.URL("postgres")+"&connect_timeout=1")
	if err != nil {
		return false
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return db.PingContext(ctx) == nil
}

// stop asks the server for a fast shutdown, kills it if it takes more than 10 s, and removes
// its folder.
func (s *Server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

// runAs is the user the server runs as: nil (this one) unless root, then postgres or nobody.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root, and there is no postgres or nobody user to run PostgreSQL as")
}
