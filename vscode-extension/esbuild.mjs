// Bundles the extension (dist/extension.js) and, with --tests, each src/test/*.test.ts into out/test/
// with `vscode` replaced by the one-file double src/test/vscodeDouble.ts.
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const tests = process.argv.includes('--tests');

const common = {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    logLevel: 'warning',
};

async function main() {
    if (tests) {
        const dir = 'src/test';
        const entryPoints = fs.readdirSync(dir).filter((f) => f.endsWith('.test.ts')).map((f) => path.join(dir, f));
        fs.rmSync('out/test', { recursive: true, force: true });
        await esbuild.build({
            ...common,
            entryPoints,
            outdir: 'out/test',
            sourcemap: 'inline',
            alias: { vscode: './src/test/vscodeDouble.ts' },
        });
        return;
    }
    const options = {
        ...common,
        entryPoints: ['src/extension.ts'],
        outfile: 'dist/extension.js',
        external: ['vscode'],
        minify: production,
        sourcemap: !production,
        sourcesContent: false,
    };
    if (watch) {
        const ctx = await esbuild.context(options);
        await ctx.watch();
    } else {
        await esbuild.build(options);
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
