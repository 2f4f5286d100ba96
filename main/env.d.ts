// What Vite (electron-vite) puts in import.meta.env of the main process: DEV is true under
// `electron-vite dev` and false in a production build.
interface ImportMetaEnv {
  readonly DEV: boolean
}
interface ImportMeta {
  readonly env: ImportMetaEnv
}
