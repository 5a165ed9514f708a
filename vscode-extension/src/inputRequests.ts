/**
 * What a live agent waits for (docs/protocol.md "Live agents", "ao/respond", "Notification ao/inputRequested"):
 * a permission ("my-project/agent-3 wants to run `npm test`" with Allow once / Always / Reject) or questions
 * (a quick pick of each question's options). The answer goes back with `ao/respond`; the first answer from
 * any client wins, and a later one (-32014) is told as information, not as an error.
 *
 * Each request is prompted once per window, whether it came as a notification or was found pending in a
 * session (a window opened after the agent asked); **Respond…** shows it again on demand.
 */
import * as vscode from 'vscode';
import { ErrorCodes } from './common/constants';
import { AoApi, InputRequest, InputRequested, PermissionReply, Question, Session, isWireError } from './common/protocol';
import { describeError } from './common/server';
import { SessionStore, pendingOf, requestText } from './sessions';

export const ALLOW_ONCE = 'Allow once';
export const ALWAYS = 'Always';
export const REJECT = 'Reject';
/** The button of a question's notification: opens its quick picks. */
export const ANSWER = 'Answer…';
/** The quick pick item that takes an answer in the person's own words. */
export const OWN_ANSWER = '$(edit) Type your own answer…';

/** How many request ids a window remembers as shown. */
const SHOWN_LIMIT = 2000;

/** What `ao/respond` takes besides the ids. */
export interface Answer {
    reply?: PermissionReply;
    message?: string;
    answers?: string[][];
}

export interface InputPromptsContext {
    server: { ready(): Promise<AoApi | undefined> };
    store: SessionStore;
    output: vscode.LogOutputChannel;
}

/** The permission notification's text: "my-project/agent-3 wants to run `npm test`", and what Always allows. */
export function permissionMessage(sessionId: string, request: InputRequest): string {
    const always = request.always.filter((p) => p.trim() !== '' && !request.patterns.includes(p));
    const also = always.length > 0 ? ` (Always also allows ${always.map((p) => `\`${p}\``).join(', ')} from now on.)` : '';
    return `${sessionId} ${requestText(request)}${also}`;
}

/** The question notification's text: "my-project/agent-3 asks: Which database?". */
export function questionMessage(sessionId: string, request: InputRequest): string {
    return `${sessionId} ${requestText(request)}`;
}

export class InputPrompts {
    /** Request ids prompted in this window, oldest first. */
    private readonly shown = new Set<string>();

    constructor(private readonly ctx: InputPromptsContext) {}

    /**
     * `ao/inputRequested`: the request joins its session's `pending` in the store, and is prompted unless it
     * was already. Resolves with the session after the answer; undefined when it was not answered here.
     */
    onInputRequested(note: InputRequested): Promise<Session | undefined> {
        this.ctx.store.addPending(note.sessionId, note.request);
        return this.promptOnce(note.sessionId, note.request);
    }

    /** After a full `ao/status`: every pending request not prompted yet (one asked before this window was). */
    promptPending(sessions: Session[]): Promise<(Session | undefined)[]> {
        return Promise.all(sessions.flatMap((s) => pendingOf(s).map((r) => this.promptOnce(s.sessionId, r))));
    }

    /** Has this window shown the request? */
    wasShown(requestId: string): boolean {
        return this.shown.has(requestId);
    }

    /** Prompts a request unless this window already did. */
    promptOnce(sessionId: string, request: InputRequest): Promise<Session | undefined> {
        if (this.shown.has(request.requestId)) {
            return Promise.resolve(undefined);
        }
        this.shown.add(request.requestId);
        if (this.shown.size > SHOWN_LIMIT) {
            const oldest = this.shown.values().next().value;
            if (oldest !== undefined) {
                this.shown.delete(oldest);
            }
        }
        this.ctx.output.info(`${sessionId} ${requestText(request)} (${request.requestId})`);
        return this.prompt(sessionId, request, true).catch((e: unknown) => {
            this.reportError(sessionId, e);
            return undefined;
        });
    }

    /**
     * Shows the prompt and sends the answer with `ao/respond`. `notify`: a question first shows a notification
     * with **Answer…** (Respond… goes straight to the quick picks). Resolves with the session after the
     * answer; undefined when dismissed or already answered elsewhere. Other failures reject.
     */
    async prompt(sessionId: string, request: InputRequest, notify: boolean): Promise<Session | undefined> {
        const answer = request.kind === 'question'
            ? await this.askQuestions(sessionId, request, notify)
            : await this.askPermission(sessionId, request);
        return answer ? this.send(sessionId, request, answer) : undefined;
    }

    private async askPermission(sessionId: string, request: InputRequest): Promise<Answer | undefined> {
        const pick = await vscode.window.showWarningMessage(permissionMessage(sessionId, request), ALLOW_ONCE, ALWAYS, REJECT);
        switch (pick) {
            case ALLOW_ONCE:
                return { reply: 'once' };
            case ALWAYS:
                return { reply: 'always' };
            case REJECT: {
                const why = await vscode.window.showInputBox({
                    title: `Reject: ${sessionId} ${requestText(request)}`,
                    prompt: 'Why not? (optional: the agent is told; leave empty or press Escape to just reject)',
                    ignoreFocusOut: true,
                });
                return why?.trim() ? { reply: 'reject', message: why.trim() } : { reply: 'reject' };
            }
            default:
                return undefined; // dismissed: it stays pending (the Sessions view says so; Respond… asks again)
        }
    }

    private async askQuestions(sessionId: string, request: InputRequest, notify: boolean): Promise<Answer | undefined> {
        if (notify) {
            const pick = await vscode.window.showInformationMessage(questionMessage(sessionId, request), ANSWER);
            if (pick !== ANSWER) {
                return undefined;
            }
        }
        const answers: string[][] = [];
        const count = request.questions.length;
        for (const [index, question] of request.questions.entries()) {
            const answer = await this.askQuestion(sessionId, question, index, count);
            if (answer === undefined) {
                return undefined;
            }
            answers.push(answer);
        }
        return { answers };
    }

    /** One question: a quick pick of its options (several when it allows), or the person's own words. */
    private async askQuestion(sessionId: string, question: Question, index: number, count: number): Promise<string[] | undefined> {
        type OptionPick = vscode.QuickPickItem & { value: string | undefined };
        const items: OptionPick[] = question.options.map((o) => ({
            label: o.label,
            description: o.description ?? undefined,
            value: o.label,
        }));
        items.push({ label: OWN_ANSWER, description: 'answer in your own words', value: undefined });
        const title = `${sessionId} asks${count > 1 ? ` (${index + 1}/${count})` : ''}${question.header ? `: ${question.header}` : ''}`;
        const options = { title, placeHolder: question.question, ignoreFocusOut: true, matchOnDescription: true };
        let picked: OptionPick[];
        if (question.multiple) {
            const many = await vscode.window.showQuickPick(items, { ...options, canPickMany: true });
            if (!many) {
                return undefined;
            }
            picked = many;
        } else {
            const one = await vscode.window.showQuickPick(items, options);
            if (!one) {
                return undefined;
            }
            picked = [one];
        }
        const labels = picked.flatMap((p) => (p.value === undefined ? [] : [p.value]));
        if (picked.some((p) => p.value === undefined)) {
            const typed = await vscode.window.showInputBox({
                title,
                prompt: question.question,
                ignoreFocusOut: true,
                validateInput: (v) => (v.trim() === '' ? 'Write your answer' : undefined),
            });
            if (typed === undefined) {
                return undefined;
            }
            labels.push(typed.trim());
        }
        return labels;
    }

    private async send(sessionId: string, request: InputRequest, answer: Answer): Promise<Session | undefined> {
        const api = await this.ctx.server.ready();
        if (!api) {
            throw new Error('ao-server is not running; the answer was not sent (see the AO output)');
        }
        try {
            const session = await api.respond(sessionId, request.requestId, answer);
            this.ctx.store.upsert(session);
            this.ctx.output.info(`answered ${request.requestId} of ${sessionId}: ${JSON.stringify(answer)}`);
            return session;
        } catch (e) {
            if (isWireError(e) && e.code === ErrorCodes.unknownRequest) {
                this.ctx.output.info(`${sessionId}: ${e.message}`);
                this.forget(sessionId, request.requestId);
                void vscode.window.showInformationMessage(
                    `AO: ${sessionId} no longer waits for this answer (it was answered elsewhere, or its turn ended).`);
                return undefined;
            }
            throw e;
        }
    }

    /** The request is no longer pending (answered elsewhere): the store stops showing it. */
    private forget(sessionId: string, requestId: string): void {
        const known = this.ctx.store.get(sessionId);
        const pending = pendingOf(known);
        if (known && pending.some((r) => r.requestId === requestId)) {
            this.ctx.store.upsert({ ...known, pending: pending.filter((r) => r.requestId !== requestId) });
        }
    }

    private reportError(sessionId: string, e: unknown): void {
        const text = isWireError(e) ? e.message : describeError(e);
        this.ctx.output.error(`answering ${sessionId} failed: ${text}${isWireError(e) ? ` (code ${e.code})` : ''}`);
        void vscode.window.showErrorMessage(`AO: answering ${sessionId} failed: ${text}`, 'Show Output').then((pick) => {
            if (pick) {
                this.ctx.output.show(true);
            }
        });
    }
}
