// Types for the official Duo Node.js client's signer (the package ships no declarations).
declare module '@duosecurity/duo_api/lib/duo_sig' {
  type Params = Record<string, string | string[]>;
  export function sign(ikey: string, skey: string, method: string, host: string, path: string, params: Params, date: string): string;
  export function signV5(ikey: string, skey: string, method: string, host: string, path: string, params: Params, date: string, body: string): string;
  export function _canonParams(params: Params): string;
}
