import path from 'node:path';
import { Eta } from 'eta';
import { viewsDir } from '../http/views.ts';

/**
 * E-mail bodies from views/mail/: `<template>.txt.eta`, whose first line is `Subject: …`, and
 * `<template>.html.eta` (inside views/mail/layout.html.eta). The text part is not escaped (it is
 * plain text; nothing in it is interpreted), the HTML part is, like every page.
 */
export const mailViewsDir = path.join(viewsDir, 'mail');

const text = new Eta({ views: mailViewsDir, autoEscape: false, autoTrim: false, cache: true });
const html = new Eta({ views: mailViewsDir, autoEscape: true, cache: true });

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

/** A template name is a file name in views/mail/, never a path. */
const TEMPLATE_NAME = /^[a-z][a-z0-9-]{0,63}$/;

export function renderMail(template: string, data: Record<string, unknown>): RenderedMail {
  if (!TEMPLATE_NAME.test(template)) throw new Error(`not a mail template name: ${template}`);
  const rendered = text.render(`./${template}.txt.eta`, data);
  const match = /^Subject: ?(.*)\r?\n\r?\n?/.exec(rendered);
  if (!match) throw new Error(`views/mail/${template}.txt.eta must start with a "Subject: …" line`);
  // One line of text: no header can be smuggled in through data shown in the subject.
  const subject = match[1]!.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 200);
  return { subject, text: rendered.slice(match[0].length), html: html.render(`./${template}.html.eta`, { ...data, subject }) };
}
