package bench

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
)

// The paced exec storm runs a minimal program: a complete static x86-64
// Linux executable whose only instructions make one system call,
// exit(0). /bin/true's dynamic loader and C library start-up cap this
// kind of machine near 500 execs a second, below the 1,000 a second the
// agent's cost is asked at; what an exec costs the agent (its fork, exec
// and exit records, three observations) does not depend on what the
// program does once it runs.

// minimalBase is where the program's one segment is loaded.
const minimalBase = 0x400000

// minimalCode is exit(0): mov eax, 60 (exit); xor edi, edi; syscall.
var minimalCode = []byte{0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05}

// errNoMinimalProgram says the minimal program is not made for this
// machine's architecture.
var errNoMinimalProgram = errors.New("the paced exec storm's minimal program is made for x86-64 Linux only")

// minimalProgram returns the minimal program's bytes: an ELF header, one
// loadable, readable and executable segment holding the whole file, and
// the code after them.
func minimalProgram() ([]byte, error) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return nil, errNoMinimalProgram
	}
	const ehsize, phsize = 64, 56
	size := uint64(ehsize + phsize + len(minimalCode))
	h := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: minimalBase + ehsize + phsize, Phoff: ehsize, Ehsize: ehsize, Phentsize: phsize, Phnum: 1,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	p := elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Vaddr: minimalBase, Paddr: minimalBase, Filesz: size, Memsz: size, Align: 0x1000,
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, h); err != nil {
		return nil, err
	}
	if err := binary.Write(&b, binary.LittleEndian, p); err != nil {
		return nil, err
	}
	b.Write(minimalCode)
	return b.Bytes(), nil
}

// writeMinimalProgram writes the minimal program, executable, in dir and
// returns its path.
func writeMinimalProgram(dir string) (string, error) {
	b, err := minimalProgram()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "exit0")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		return "", err
	}
	return path, nil
}
