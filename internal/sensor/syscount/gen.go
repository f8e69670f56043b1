package syscount

// The eBPF program is compiled ahead of time; the generated Go and object
// files are committed so that a plain `go build` needs no clang. To
// regenerate (needs Debian's clang, llvm and libbpf-dev):
//
//	go generate ./internal/sensor/syscount

//go:generate go tool bpf2go -target amd64 -type key -type name -type exe -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" syscount bpf/syscount.c
