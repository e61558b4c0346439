// Where Dawn in Node finds a Vulkan driver on a machine without a GPU: Chromium's SwiftShader
// ICD (see DESIGN.md "Facts about these machines"). Node-only and import-free of Dawn, so a
// process can decide the driver before anything loads the `webgpu` package.
import { existsSync } from 'node:fs';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * Points Vulkan (Dawn's backend on Linux) at Chromium's SwiftShader when the caller set no
 * driver and the file exists: an explicit VK_ICD_FILENAMES wins. Call it on the main thread
 * before Dawn starts: a worker's process.env is its own copy, invisible to the Vulkan loader.
 * Returns the driver file in effect (undefined: the loader's default).
 */
export function useSwiftShaderWhenNoDriver(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return env.VK_ICD_FILENAMES;
}
