declare module "*.bpf.o" {
  const path: string;
  export default path;
}
declare module "*.service" {
  const text: string;
  export default text;
}
declare module "*.toml" {
  const text: string;
  export default text;
}
declare module "*.md" {
  const text: string;
  export default text;
}
declare module "*/cgwarden" {
  const text: string;
  export default text;
}
declare module "*.sh" {
  const text: string;
  export default text;
}
