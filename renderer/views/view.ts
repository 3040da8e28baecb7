/** A view: one section of the page, told when it is shown. */
export interface View {
  name: string;
  el: HTMLElement;
  show(): void | Promise<void>;
  hide?(): void;
  resize?(): void;
}
