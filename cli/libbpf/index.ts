export { BpfObject, BpfProgram, BpfMapDef } from "./object.ts";
export { Link } from "./link.ts";
export { MapFd, onMapWrite, type MapInfo } from "./map.ts";
export { KernelBtf } from "./btf.ts";
export { BpfError, describeErrno } from "./errors.ts";
export { attachProgramFd, linkExists, pinFd, linkInfo, openPinned, closeFd, pidfdOpen, programMapIds, waitDetached, type Attachment, type LinkInfo } from "./info.ts";
export { setLibbpfVerbose } from "./log.ts";
export { RingBuffer } from "./ringbuf.ts";
export { libbpf, LIBBPF_SONAME } from "./ffi.ts";
