/** A protocol violation detected by the codec; carries the close code to fail the connection with. */
export class ProtocolError extends Error {
  readonly closeCode: number;
  constructor(message: string, closeCode: number) {
    super(message);
    this.name = 'ProtocolError';
    this.closeCode = closeCode;
  }
}
