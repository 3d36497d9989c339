package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/shakedown-dev/shakedown/internal/testenv"
)

// The release tests run deploy/release.sh, the script behind `make release`, as a maintainer
// does. Building both binaries takes minutes: TestRelease and TestGoInstallLatest skip in -short.

const (
	module      = "github.com/shakedown-dev/shakedown"
	testVersion = "v0.0.0-test"
	// envDocker is the private engine of the container tests (testbed/containers.sh); the
	// release tests never read DOCKER_HOST, so a developer's own daemon is never touched.
	envDocker = "SHAKEDOWN_TEST_DOCKER_HOST"
)

// repoRoot returns the repository's root: this package is cmd/shakedown.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// releaseRun is one run of a release script.
type releaseRun struct {
	code           int
	stdout, stderr string
}

// runRelease runs script VERSION with the environment's Docker variables replaced by env's.
func runRelease(t *testing.T, script string, env []string, args ...string) releaseRun {
	t.Helper()
	cmd := exec.Command(script, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "DOCKER_HOST=") || strings.HasPrefix(kv, "IMAGE=") ||
			strings.HasPrefix(kv, "ALLOW_DIRTY=") || strings.HasPrefix(kv, "DIST=")
	})
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s: %v", script, err)
	}
	return releaseRun{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// noEngine is a DOCKER_HOST where no engine answers.
func noEngine(t *testing.T) string {
	return "DOCKER_HOST=unix://" + filepath.Join(t.TempDir(), "no-engine.sock")
}

func TestReleaseRefusesBadVersions(t *testing.T) {
	script := filepath.Join(repoRoot(t), "deploy", "release.sh")
	for _, args := range [][]string{
		{}, {""}, {"1.2.3"}, {"v1.2"}, {"v1.2.3.4"}, {"v01.2.3"}, {"v1.2.3-"}, {"v1.2.3+build.5"},
		{"latest"}, {"v1.2.3 "}, {"v1.2.3", "v1.2.4"},
	} {
		t.Run(strings.Join(args, ","), func(t *testing.T) {
			dist := filepath.Join(t.TempDir(), "dist")
			got := runRelease(t, script, []string{"DIST=" + dist, "ALLOW_DIRTY=1", noEngine(t)}, args...)
			if got.code == 0 {
				t.Fatalf("release.sh %q exited 0, want an error; stdout:\n%s", args, got.stdout)
			}
			if len(args) == 1 && !strings.Contains(got.stderr, "VERSION \""+args[0]+"\"") {
				t.Errorf("release.sh %q: stderr does not name the version:\n%s", args, got.stderr)
			}
			if _, err := os.Stat(dist); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("release.sh %q made %s (stat: %v), want nothing built", args, dist, err)
			}
		})
	}
	// Good versions pass the check: IMAGE=bogus, checked next, is what stops them.
	for _, v := range []string{"v1.2.3", "v0.0.0-test", "v1.3.0-rc.1", "v10.20.30-alpha-2.x"} {
		t.Run(v, func(t *testing.T) {
			got := runRelease(t, script, []string{"IMAGE=bogus", noEngine(t)}, v)
			if got.code == 0 || strings.Contains(got.stderr, "VERSION") || !strings.Contains(got.stderr, "IMAGE") {
				t.Errorf("release.sh %s with IMAGE=bogus: exit %d, stderr:\n%s\nwant the version accepted and IMAGE refused", v, got.code, got.stderr)
			}
		})
	}
}

// TestReleaseRefusesWhatIsNotACommit runs the script in a repository of its own: a working tree
// with changes, a tag on another commit and IMAGE=yes without an engine stop it before any build.
func TestReleaseRefusesWhatIsNotACommit(t *testing.T) {
	testenv.NeedCommand(t, "git")
	script, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "release.sh"))
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@localhost",
			"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", args, err, out)
		}
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repo, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	write("deploy/release.sh", string(script))
	write(".gitignore", "/dist/\n")
	git("add", "-A")
	git("commit", "-q", "-m", "one")
	git("tag", "v1.0.0")
	write("README", "two\n")
	git("add", "-A")
	git("commit", "-q", "-m", "two")
	run := filepath.Join(repo, "deploy", "release.sh")
	dist := filepath.Join(repo, "dist")

	for _, tc := range []struct {
		name    string
		version string
		env     []string
		dirty   bool
		want    string // what stderr must say
	}{
		{name: "untracked file", version: "v1.0.1", dirty: true, want: "uncommitted changes"},
		{name: "tag on another commit", version: "v1.0.0", want: "tag v1.0.0 is commit"},
		{name: "IMAGE=yes without an engine", version: "v1.0.1", env: []string{"IMAGE=yes"}, want: "IMAGE=yes, but"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.dirty {
				write("new.go", "package x\n")
				defer os.Remove(filepath.Join(repo, "new.go"))
			}
			got := runRelease(t, run, append([]string{noEngine(t)}, tc.env...), tc.version)
			if got.code == 0 || !strings.Contains(got.stderr, tc.want) {
				t.Errorf("release.sh %s: exit %d, stderr:\n%s\nwant a refusal saying %q", tc.version, got.code, got.stderr, tc.want)
			}
			if _, err := os.Stat(dist); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("release.sh %s made %s (stat: %v), want nothing built", tc.version, dist, err)
			}
		})
	}
}

// TestRelease builds a release through the script and checks what a user downloads: static
// binaries for their architectures that say their version, checksums of every file, SBOMs
// naming exactly the modules linked in, and the image when the container test bed's engine is
// given (else the release says it skipped the image, and succeeds).
func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds two binaries")
	}
	root := repoRoot(t)
	dist := filepath.Join(t.TempDir(), "dist")
	env := []string{"DIST=" + dist, "ALLOW_DIRTY=1"} // the tests run on work in progress too
	host := os.Getenv(envDocker)
	if host != "" {
		env = append(env, "DOCKER_HOST="+host, "IMAGE=yes")
		t.Cleanup(func() { exec.Command("docker", "--host", host, "rmi", "shakedown:"+testVersion).Run() })
	} else {
		env = append(env, noEngine(t))
	}
	got := runRelease(t, filepath.Join(root, "deploy", "release.sh"), env, testVersion)
	if got.code != 0 {
		t.Fatalf("release.sh %s: exit %d\nstdout:\n%s\nstderr:\n%s", testVersion, got.code, got.stdout, got.stderr)
	}
	t.Logf("release.sh %s:\n%s", testVersion, got.stdout)

	arches := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for arch, machine := range arches {
		bin := filepath.Join(dist, "shakedown-"+testVersion+"-linux-"+arch)
		t.Run("static "+arch, func(t *testing.T) { checkStaticELF(t, bin, machine) })
		t.Run("version "+arch, func(t *testing.T) {
			cmd := exec.Command(bin, "version")
			if runtime.GOOS != "linux" || runtime.GOARCH != arch {
				// Another architecture's binary runs in qemu's user mode (Debian's qemu-user-static).
				cmd = exec.Command(testenv.NeedCommand(t, "qemu-"+qemuArch[arch]+"-static"), bin, "version")
			}
			out, err := cmd.CombinedOutput()
			if want := "shakedown version " + testVersion + "\n"; err != nil || string(out) != want {
				t.Errorf("%s version: %q (%v), want %q", bin, out, err, want)
			}
		})
		t.Run("sbom "+arch, func(t *testing.T) {
			checkSBOM(t, root, filepath.Join(dist, "shakedown-"+testVersion+"-linux-"+arch+".cdx.json"), arch)
		})
	}
	t.Run("checksums", func(t *testing.T) { checkSums(t, dist) })
	t.Run("image", func(t *testing.T) {
		image := filepath.Join(dist, "shakedown-"+testVersion+"-image-linux-"+runtime.GOARCH+".tar.gz")
		if host == "" {
			if _, err := os.Stat(image); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("no engine, yet %s exists (stat: %v)", image, err)
			}
			if !strings.Contains(got.stdout, "the container image was NOT built: no Docker engine answers") {
				t.Errorf("no engine, and the release does not say it skipped the image:\n%s", got.stdout)
			}
		}
		testenv.NeedEnv(t, envDocker)
		checkImageTarball(t, image, "shakedown:"+testVersion)
		out, err := exec.Command("docker", "--host", host, "run", "--rm", "--network", "none",
			"shakedown:"+testVersion, "version").CombinedOutput()
		if want := "shakedown version " + testVersion + "\n"; err != nil || string(out) != want {
			t.Errorf("docker run shakedown:%s version: %q (%v), want %q", testVersion, out, err, want)
		}
	})
}

// qemuArch names GOARCHes as qemu does.
var qemuArch = map[string]string{"amd64": "x86_64", "arm64": "aarch64"}

// checkStaticELF fails unless bin is an ELF executable for machine with no interpreter and no
// shared libraries.
func checkStaticELF(t *testing.T, bin string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Errorf("%s: machine %v, type %v; want %v, %v", bin, f.Machine, f.Type, machine, elf.ET_EXEC)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a PT_INTERP program header: dynamically linked", bin)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil || len(libs) > 0 {
		t.Errorf("%s: DT_NEEDED %q (%v), want none", bin, libs, err)
	}
}

// checkSums checks dist/SHA256SUMS with sha256sum -c and on its own: one line per other file of
// dist, in sha256sum's format, each right.
func checkSums(t *testing.T, dist string) {
	t.Helper()
	cmd := exec.Command(testenv.NeedCommand(t, "sha256sum"), "-c", "--strict", "SHA256SUMS")
	cmd.Dir = dist
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^([0-9a-f]{64})  (shakedown-[^/]+)$`)
	var listed []string
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Errorf("SHA256SUMS line %q is not \"<sha256>  <file>\"", sc.Text())
			continue
		}
		b, err := os.ReadFile(filepath.Join(dist, m[2]))
		if err != nil {
			t.Error(err)
			continue
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != m[1] {
			t.Errorf("SHA256SUMS says %s for %s, its SHA-256 is %x", m[1], m[2], sum)
		}
		listed = append(listed, m[2])
	}
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Name() != "SHA256SUMS" {
			files = append(files, e.Name())
		}
	}
	if diff := cmp.Diff(files, listed); diff != "" {
		t.Errorf("SHA256SUMS lists other files than dist holds (-dist +listed):\n%s", diff)
	}
}

// cdxBOM is what the tests read of a CycloneDX BOM.
type cdxBOM struct {
	BOMFormat    string `json:"bomFormat"`
	SpecVersion  string `json:"specVersion"`
	SerialNumber string `json:"serialNumber"`
	Metadata     struct {
		Component cdxComponent `json:"component"`
	} `json:"metadata"`
	Components   []cdxComponent `json:"components"`
	Dependencies []struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	} `json:"dependencies"`
}

type cdxComponent struct {
	BOMRef  string `json:"bom-ref"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version"`
	PURL    string `json:"purl"`
}

// checkSBOM checks that path is a CycloneDX BOM of the application at testVersion whose
// components are the modules `go list` says cmd/shakedown links on linux/arch, and the standard
// library, with a dependency graph over them.
func checkSBOM(t *testing.T, root, path, arch string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var bom cdxBOM
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&bom); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	app := bom.Metadata.Component
	if bom.BOMFormat != "CycloneDX" || bom.SpecVersion == "" || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("%s: bomFormat %q specVersion %q serialNumber %q, want a CycloneDX BOM", path, bom.BOMFormat, bom.SpecVersion, bom.SerialNumber)
	}
	if app.Type != "application" || app.Name != module || app.Version != testVersion ||
		!strings.HasPrefix(app.PURL, "pkg:golang/"+module+"@"+testVersion+"?goarch="+arch+"&goos=linux") {
		t.Errorf("%s: metadata.component %+v, want the application %s %s for linux/%s", path, app, module, testVersion, arch)
	}

	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}@{{.Version}}{{end}}", "./cmd/shakedown")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	want := []string{"std@" + strings.TrimPrefix(runtime.Version(), "go")}
	for _, m := range strings.Fields(string(out)) {
		if !strings.HasPrefix(m, module+"@") && !slices.Contains(want, m) {
			want = append(want, m)
		}
	}
	refs := map[string]bool{app.BOMRef: true}
	var got []string
	for _, c := range bom.Components {
		got = append(got, c.Name+"@"+strings.TrimPrefix(c.Version, "go"))
		refs[c.BOMRef] = true
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: components are not the modules linked on linux/%s (-go list +sbom):\n%s", path, arch, diff)
	}
	var mainDeps int
	for _, d := range bom.Dependencies {
		if !refs[d.Ref] {
			t.Errorf("%s: dependencies name %q, which is no component", path, d.Ref)
		}
		for _, r := range d.DependsOn {
			if !refs[r] {
				t.Errorf("%s: %s depends on %q, which is no component", path, d.Ref, r)
			}
		}
		if d.Ref == app.BOMRef {
			mainDeps = len(d.DependsOn)
		}
	}
	if mainDeps == 0 {
		t.Errorf("%s: the application depends on nothing, want its direct dependencies", path)
	}
}

// checkImageTarball checks that path is a gzipped `docker save` of tag.
func checkImageTarball(t *testing.T, path, tag string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no manifest.json (%v)", path, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&manifest); err != nil {
			t.Fatalf("%s: manifest.json: %v", path, err)
		}
		if len(manifest) != 1 || !slices.Contains(manifest[0].RepoTags, tag) {
			t.Errorf("%s: manifest %+v, want the one image %s", path, manifest, tag)
		}
		return
	}
}

// TestGoInstallLatest does what the README tells users, `go install …/cmd/shakedown@latest`,
// offline: a module proxy on disk serves the working tree as the module's only version, the
// module cache's download directory serves its dependencies, and the installed binary, built
// without -ldflags, must say the version the proxy gave it. It shows that the module resolves
// and builds from a proxy as published (no replace directive, no file outside the module) and
// that `version` falls back on the build info; the dependencies' checksums are go.sum's (the
// checksum database is not asked), and it builds with -trimpath and CGO_ENABLED=0 to reuse the
// release builds' cache.
func TestGoInstallLatest(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: builds the command from a module proxy")
	}
	const version = "v0.0.1"
	root := repoRoot(t)
	proxy := t.TempDir()
	at := filepath.Join(proxy, module, "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": []byte(`{"Version":"` + version + `","Time":"2026-12-01T00:00:00Z"}`),
		version + ".mod":  gomod,
		version + ".zip":  moduleZip(t, root, module+"@"+version),
	} {
		if err := os.WriteFile(filepath.Join(at, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cache := strings.TrimSpace(goEnv(t, "GOMODCACHE"))
	gobin := t.TempDir()
	cmd := exec.Command("go", "install", module+"/cmd/shakedown@latest")
	cmd.Dir = t.TempDir() // outside any module, as a user
	cmd.Env = append(os.Environ(),
		"GOBIN="+gobin,
		"GOMODCACHE="+t.TempDir(), // the fake version never enters the real cache
		"GOPROXY=file://"+proxy+",file://"+filepath.Join(cache, "cache", "download"),
		"GOSUMDB=off", "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0",
		"GOFLAGS=-modcacherw -trimpath",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s/cmd/shakedown@latest: %v\n%s", module, err, out)
	}
	out, err := exec.Command(filepath.Join(gobin, "shakedown"), "version").CombinedOutput()
	if want := "shakedown version " + version + "\n"; err != nil || string(out) != want {
		t.Errorf("shakedown version after go install @latest: %q (%v), want %q", out, err, want)
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return string(out)
}

// moduleZip returns a module zip of the working tree at root as the proxy protocol serves it:
// the files git tracks or would track, under prefix/, without nested modules.
func moduleZip(t *testing.T, root, prefix string) []byte {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	var nested []string // directories holding another module
	for _, f := range files {
		if filepath.Base(f) == "go.mod" && f != "go.mod" {
			nested = append(nested, filepath.Dir(f)+"/")
		}
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		if slices.ContainsFunc(nested, func(dir string) bool { return strings.HasPrefix(f, dir) }) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		} else if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(prefix + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
