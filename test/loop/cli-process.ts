/** Running the CLI as a child process in the crash tests. */
import { spawn } from 'node:child_process';

/** Runs `node <args>` to its end; resolves with its stdout and stderr, rejects with them when it fails or takes over `timeoutMs`. */
export function runToEnd(args: readonly string[], env: NodeJS.ProcessEnv, label: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`autodidact run ${label} ended with ${code ?? signal}:\n${output}`));
    });
  });
}
