// Reading the review app's page in the browser tests: when a case's images are on screen, and what the canvas shows
// (its redness for the heatmap, its mean grey for window/level).
import type { Page } from 'playwright-core';

/** Waits until every image pane of the case has drawn its image once. */
export async function imagesShown(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    // The case on screen is the one the address names (a key pressed right after a hash change would otherwise act
    // on the case being left), and all its images are drawn.
    const panes = document.querySelectorAll('figure.pane').length;
    const key = document.body.dataset['case'];
    return key !== undefined && location.hash === `#/case/${key}` && panes > 0 && document.body.dataset['imagesShown'] === String(panes);
  });
}

/** Sum of red minus green over the canvas: moves when the heatmap is drawn on the grey image. */
export async function redness(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = (canvas.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
    let s = 0;
    for (let i = 0; i < d.length; i += 4) s += (d[i] as number) - (d[i + 1] as number);
    return s;
  });
}

/** Waits until the canvas's redness differs from `before` by more than 1,000 (a heatmap drawn or removed). */
export async function rednessChanged(page: Page, selector: string, before: number): Promise<void> {
  await page.waitForFunction(([sel, was]) => {
    const c = document.querySelector(sel as string) as HTMLCanvasElement;
    const d = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data;
    let s = 0;
    for (let i = 0; i < d.length; i += 4) s += (d[i] as number) - (d[i + 1] as number);
    return Math.abs(s - (was as number)) > 1000;
  }, [selector, before] as const);
}

/** Mean of the green channel over the canvas (grey level of the drawn image). */
export async function meanGrey(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = (canvas.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
    let s = 0;
    for (let i = 0; i < d.length; i += 4) s += d[i + 1] as number;
    return s / (d.length / 4);
  });
}

/** Pixels of the canvas in the model boxes' magenta (strong red and blue, little green). */
export async function magenta(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (c) => {
    const canvas = c as HTMLCanvasElement;
    const d = (canvas.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if ((d[i] as number) > 200 && (d[i + 1] as number) < 90 && (d[i + 2] as number) > 200) n++;
    return n;
  });
}
