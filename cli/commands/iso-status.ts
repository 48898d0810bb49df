import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { type Config, TEST_OS } from '../../core/config/schema.ts'
import { isoCacheStatus } from '../../metal/os/iso.ts'

/** The ISO check of `homelab doctor`, for the config's os.iso. */
export function isoStatus(config: Config, repoRoot: string) {
  return async (): Promise<{ status: 'ok' | 'warn'; detail: string; fix?: string }> => {
    const cacheDir = join(repoRoot, '.cache')
    if (config.os.iso === TEST_OS) {
      return existsSync(join(cacheDir, 'testos', 'homelab-testos.iso'))
        ? { status: 'ok', detail: 'the offline test OS is built (it is rebuilt when its inputs change)' }
        : {
            status: 'warn',
            detail: 'the offline test OS is not built yet',
            fix: '`homelab metal` builds it from Debian packages (apt-get download, once)',
          }
    }
    return isoCacheStatus(config.os.iso.url, config.os.iso.sha256, join(cacheDir, 'iso'))
  }
}
