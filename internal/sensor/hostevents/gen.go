package hostevents

// The eBPF programs are compiled ahead of time; the generated Go and object
// files are committed so that a plain `go build` needs no clang. To
// regenerate (needs Debian's clang, llvm and libbpf-dev):
//
//	go generate ./internal/sensor/hostevents

//go:generate go tool bpf2go -target amd64 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" hostevents bpf/hostevents.c
