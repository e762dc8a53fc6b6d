/**
 * libvirt client credentials files (auth.conf, as libvirt's client and virtmux read them through
 * `LIBVIRT_AUTH_FILE` or `authfile=`): one credentials set used for every service and host.
 *
 * @module
 */

/**
 * The text of an auth.conf whose `[auth-libvirt-default]` answers with `authname` and `password`.
 *
 * @param authname the SASL user name
 * @param password its password
 */
export function authConf(authname: string, password: string): string {
  return `[credentials-lab]\nauthname=${authname}\npassword=${password}\n\n` +
    `[auth-libvirt-default]\ncredentials=lab\n`;
}
